//! `Store::verify`: re-hash every blob and check every entry — its result and its MAC —
//! removing what is damaged or forged.

use std::collections::HashSet;

use super::Store;
use crate::Digest;
use crate::error::Result;

/// What [`Store::verify`] found and removed.
///
/// ```
/// #[memo::cached]
/// fn area(w: u32, h: u32) -> u32 {
///     w * h
/// }
///
/// let store = memo::Store::temporary()?;
/// memo::with_store(&store, || area(3, 4));
/// let report = store.verify(&mut |_, _| {})?;
/// assert!(report.is_clean());
/// # Ok::<(), memo::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Blobs re-hashed.
    pub blobs_checked: u64,
    /// Blobs whose bytes did not match their hash, removed.
    pub bad_blobs: Vec<Digest>,
    /// Entries checked.
    pub entries_checked: u64,
    /// Entries removed: unreadable, pointing at a missing or damaged blob, or half
    /// written (a row without its details, or details without their row).
    pub bad_entries: u64,
    /// Entries removed because their MAC does not bind their result to their key under
    /// the store's secret: written by something that does not know it (planted), or
    /// altered since.
    pub forged_entries: u64,
}

impl VerifyReport {
    /// Whether nothing was damaged.
    ///
    /// ```
    /// let store = memo::Store::temporary()?;
    /// assert!(store.verify(&mut |_, _| {})?.is_clean());
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn is_clean(&self) -> bool {
        self.bad_blobs.is_empty() && self.bad_entries == 0 && self.forged_entries == 0
    }
}

impl Store {
    /// Re-hashes every blob and checks every entry; removes damaged blobs, the entries
    /// that cannot be served, and those whose MAC the store's secret does not check, so
    /// they are recomputed on their next call.
    ///
    /// `progress` is called with the number of items checked so far and the total.
    ///
    /// ```
    /// let store = memo::Store::temporary().unwrap();
    /// let report = store.verify(&mut |_, _| {}).unwrap();
    /// assert!(report.is_clean());
    /// ```
    pub fn verify(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<VerifyReport> {
        self.inner.local()?;
        let inner = &*self.inner;
        let trees = &inner.trees();
        let storage = |e| inner.storage(e);
        let total = trees.blobs.len().map_err(storage)? + trees.entries.len().map_err(storage)?;
        let mut done = 0;
        let mut report = VerifyReport::default();
        let mut good: HashSet<Digest> = HashSet::new();
        for item in trees.blobs.iter() {
            let (hash, bytes) = item.map_err(storage)?;
            report.blobs_checked += 1;
            let hash = <[u8; 32]>::try_from(hash.as_ref()).ok().map(Digest);
            match hash {
                Some(hash) if super::files::blob_matches(&inner.dir, &hash, &bytes) => {
                    good.insert(hash);
                }
                _ => {
                    if let Some(hash) = hash {
                        super::files::remove(&inner.dir, &hash);
                    }
                    trees
                        .blobs
                        .remove(hash.map_or([0; 32], |h| h.0))
                        .map_err(storage)?;
                    report.bad_blobs.push(hash.unwrap_or(Digest([0; 32])));
                }
            }
            done += 1;
            progress(done, total);
        }
        self.for_each_row(|key, _, record| {
            report.entries_checked += 1;
            let key32 = <[u8; 32]>::try_from(key).ok().map(Digest);
            match (key32, record) {
                (Some(key), Some(record))
                    if match &record.inline {
                        Some(bytes) => Digest::of_bytes(bytes) == record.output,
                        None => good.contains(&record.output),
                    } =>
                {
                    if !inner.seal.checks(&key, &record.output, record.mac.as_ref()) {
                        inner.remove_entry(&key, &record)?;
                        report.forged_entries += 1;
                    }
                }
                (Some(key), Some(record)) => {
                    inner.remove_entry(&key, &record)?;
                    report.bad_entries += 1;
                }
                // A row that does not read, or has no details: it cannot be served.
                _ => {
                    trees.entries.remove(key).map_err(storage)?;
                    trees.details.remove(key).map_err(storage)?;
                    report.bad_entries += 1;
                }
            }
            done += 1;
            progress(done, total);
            Ok(())
        })?;
        // Details whose row is gone (a write cut short between the two): nothing reads
        // them, and they would take room for good.
        for item in trees.details.iter().keys() {
            let key = item.map_err(storage)?;
            if !trees.entries.contains_key(&key).map_err(storage)? {
                trees.details.remove(&key).map_err(storage)?;
                report.bad_entries += 1;
            }
        }
        if !report.is_clean() {
            self.forget_hot();
        }
        Ok(report)
    }
}
