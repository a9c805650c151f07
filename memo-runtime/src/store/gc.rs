//! Garbage collection: expired, old, over-budget and stale entries, and unreferenced blobs.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::Store;
use super::files;
use crate::error::Result;
use crate::{Digest, clock};

/// What [`Store::gc`] removes, besides blobs no entry references (always collected).
///
/// ```
/// use std::time::Duration;
///
/// let store = memo::Store::temporary().unwrap();
/// let policy = memo::Gc::new()
///     .expired()
///     .stale()
///     .older_than(Duration::from_secs(90 * 24 * 3600))
///     .unused_for(Duration::from_secs(30 * 24 * 3600))
///     .max_bytes(1 << 30);
/// let report = store.gc(&policy).unwrap();
/// assert_eq!(report.entries_removed, 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gc {
    expired: bool,
    stale: bool,
    older_than: Option<Duration>,
    unused_for: Option<Duration>,
    max_bytes: Option<u64>,
}

impl Gc {
    /// A policy that removes only unreferenced blobs; add to it with the other methods.
    ///
    /// ```
    /// let store = memo::Store::temporary()?;
    /// assert_eq!(store.gc(&memo::Gc::new())?.entries_removed, 0);
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn new() -> Gc {
        Gc::default()
    }

    /// Removes entries whose `ttl` has passed.
    ///
    /// ```
    /// assert_ne!(memo::Gc::new().expired(), memo::Gc::new());
    /// ```
    pub fn expired(mut self) -> Gc {
        self.expired = true;
        self
    }

    /// Removes entries written by an older version of their function's code: those whose
    /// fingerprint is not the one that most recently used the store.
    ///
    /// ```
    /// let store = memo::Store::temporary()?;
    /// store.gc(&memo::Gc::new().stale())?;
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn stale(mut self) -> Gc {
        self.stale = true;
        self
    }

    /// Removes entries computed longer than `age` ago.
    ///
    /// ```
    /// let month = std::time::Duration::from_secs(30 * 24 * 3600);
    /// let policy = memo::Gc::new().older_than(month);
    /// assert_ne!(policy, memo::Gc::new());
    /// ```
    pub fn older_than(mut self, age: Duration) -> Gc {
        self.older_than = Some(age);
        self
    }

    /// Removes entries not returned for longer than `age`.
    ///
    /// ```
    /// let week = std::time::Duration::from_secs(7 * 24 * 3600);
    /// let store = memo::Store::temporary()?;
    /// store.gc(&memo::Gc::new().unused_for(week))?;
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn unused_for(mut self, age: Duration) -> Gc {
        self.unused_for = Some(age);
        self
    }

    /// Removes the least recently used entries until the results they reference take at
    /// most `bytes`.
    ///
    /// ```
    /// #[memo::cached]
    /// fn page(i: u32) -> Vec<u8> {
    ///     vec![i as u8; 1024]
    /// }
    ///
    /// let store = memo::Store::temporary()?;
    /// memo::with_store(&store, || (0..10).for_each(|i| drop(page(i))));
    /// store.gc(&memo::Gc::new().max_bytes(4096))?;
    /// assert!(store.stats()?.bytes <= 4096);
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn max_bytes(mut self, bytes: u64) -> Gc {
        self.max_bytes = Some(bytes);
        self
    }
}

/// What [`Store::gc`] removed.
///
/// ```
/// let store = memo::Store::temporary()?;
/// let report = store.gc(&memo::Gc::new())?;
/// assert_eq!(report, memo::GcReport { disk_bytes_freed: report.disk_bytes_freed, ..Default::default() });
/// # Ok::<(), memo::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Entries removed.
    pub entries_removed: u64,
    /// Result blobs removed.
    pub blobs_removed: u64,
    /// Bytes of result blobs removed.
    pub bytes_freed: u64,
    /// Bytes the database file shrank by: `gc` compacts the file when more than half of it
    /// is free room left by earlier writes; and the files of large results removed, with
    /// any a writer that died left half-written.
    pub disk_bytes_freed: u64,
}

impl Store {
    /// Removes what `policy` selects, then every blob that no entry references.
    ///
    /// ```
    /// #[memo::cached(ttl = "1s")]
    /// fn brief(x: u32) -> u32 {
    ///     x
    /// }
    ///
    /// let store = memo::Store::temporary()?;
    /// memo::with_store(&store, || brief(1));
    /// std::thread::sleep(std::time::Duration::from_millis(1100));
    /// assert_eq!(store.gc(&memo::Gc::new().expired())?.entries_removed, 1);
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn gc(&self, policy: &Gc) -> Result<GcReport> {
        self.inner.local()?;
        let inner = &*self.inner;
        // What the database took before: removals grow it until it is compacted.
        let database_before = inner.database_bytes()?;
        let now = clock::now_ms();
        let current: HashMap<String, Digest> = if policy.stale {
            self.functions()?
                .into_iter()
                .map(|f| (f.name, f.current))
                .collect()
        } else {
            HashMap::new()
        };
        let mut keep = Vec::new();
        let mut report = GcReport::default();
        for (key, mut record) in self.records()? {
            // From the future (a clock ahead, or this one stepped back): counted from now,
            // as a lookup would, and kept so.
            if let Some((created_ms, expires_ms)) =
                clock::from_the_future(record.created_ms, record.expires_ms, now)
            {
                record.created_ms = created_ms;
                record.expires_ms = expires_ms;
                record.last_used_ms = record.last_used_ms.min(now);
                inner.write_row(&key, &record)?;
            }
            let expired = policy.expired && record.is_expired(now);
            let stale = policy.stale
                && current
                    .get(&record.function)
                    .is_some_and(|c| *c != record.fingerprint);
            let unused = policy.unused_for.is_some_and(|age| {
                now.saturating_sub(record.last_used_ms) > clock::duration_ms(age)
            });
            let old = policy
                .older_than
                .is_some_and(|age| now.saturating_sub(record.created_ms) > clock::duration_ms(age));
            if expired || stale || unused || old {
                inner.remove_entry(&key, &record)?;
                report.entries_removed += 1;
            } else {
                keep.push((key, record));
            }
        }
        if let Some(budget) = policy.max_bytes {
            // Count each shared blob once; drop the least recently used until in budget.
            let mut refs: HashMap<Digest, (u64, usize)> = HashMap::new();
            for (_, record) in &keep {
                refs.entry(record.output).or_insert((record.size, 0)).1 += 1;
            }
            let mut total: u64 = refs.values().map(|(size, _)| size).sum();
            keep.sort_by_key(|(_, record)| record.last_used_ms);
            let mut survivors = Vec::new();
            for (key, record) in keep {
                if total <= budget {
                    survivors.push((key, record));
                    continue;
                }
                inner.remove_entry(&key, &record)?;
                report.entries_removed += 1;
                let (size, count) = refs.get_mut(&record.output).expect("counted above");
                *count -= 1;
                if *count == 0 {
                    total -= *size;
                }
            }
            keep = survivors;
        }
        let live: HashSet<Digest> = keep.iter().map(|(_, record)| record.output).collect();
        let mut pointed = HashSet::new();
        for item in inner.trees().blobs.iter() {
            let (hash, bytes) = item.map_err(|e| inner.storage(e))?;
            let hash = <[u8; 32]>::try_from(hash.as_ref()).ok().map(Digest);
            if hash.is_some_and(|hash| live.contains(&hash)) {
                if files::read_pointer(&bytes).is_some() {
                    pointed.extend(hash);
                }
                continue;
            }
            inner
                .trees()
                .blobs
                .remove(hash.map_or([0; 32], |hash| hash.0))
                .map_err(|e| inner.storage(e))?;
            if let Some(hash) = hash {
                files::remove(&inner.dir, &hash);
            }
            report.blobs_removed += 1;
            report.bytes_freed += files::blob_size(&bytes);
        }
        // Files no pointer names: their writer died before it could write one, or the
        // database was replaced; and half-written files whose writer is gone.
        let mut files_freed = 0;
        for (path, found) in files::sweep(&inner.dir) {
            let size = match found {
                files::Found::Result(hash, _) if pointed.contains(&hash) => continue,
                files::Found::Result(_, size) => {
                    report.blobs_removed += 1;
                    report.bytes_freed += size;
                    size
                }
                files::Found::Leftover(size) => size,
            };
            if std::fs::remove_file(&path).is_ok() {
                files_freed += size;
            }
        }
        if policy.stale {
            // The tier's values of older code versions go too.
            for (name, current) in &current {
                let current = current.0;
                self.forget_shared(&[self.crate_of(name)], "fn", name, |key| {
                    super::shared::is_of_version(key, &current)
                });
            }
        }
        self.count_evictions(report.entries_removed);
        if report.entries_removed > 0 {
            self.forget_hot();
        }
        inner.compact(u64::MAX)?;
        report.disk_bytes_freed =
            database_before.saturating_sub(inner.database_bytes()?) + files_freed;
        Ok(report)
    }
}
