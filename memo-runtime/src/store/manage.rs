//! Inspecting and invalidating a store: stats, listings, invalidation by tag or function.

use std::collections::HashMap;

use super::access::tag_prefix;
use super::record::EntryRecord;
use super::serve::Removal;
use super::{Store, decode_exact};
use crate::error::Result;
use crate::{Digest, Entry, FunctionRecord};

/// What a store holds and how well it has served, as [`Store::stats`] reports it.
///
/// Hits, misses and evictions are kept across runs.
///
/// ```
/// #[memo::cached]
/// fn area(w: u32, h: u32) -> u32 {
///     w * h
/// }
///
/// let store = memo::Store::temporary()?;
/// memo::with_store(&store, || area(3, 4));
/// memo::with_store(&store, || area(3, 4));
/// let stats = store.stats()?;
/// assert_eq!((stats.entries, stats.hits, stats.misses), (1, 1, 1));
/// # Ok::<(), memo::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Calls answered from the store.
    pub hits: u64,
    /// Calls that ran the function.
    pub misses: u64,
    /// Entries removed because they expired or by `gc`.
    pub evictions: u64,
    /// What the process holding the store refused from others: a result not bound to its
    /// key by the store's secret, or a connection from another user or protocol.
    pub refused: u64,
    /// Stored results.
    pub entries: u64,
    /// Distinct result blobs; identical results share one.
    pub blobs: u64,
    /// Bytes of the stored results: each shared result once, and each result small enough
    /// to live inside its entry (up to 256 bytes) once per entry, as it is stored.
    pub bytes: u64,
    /// Bytes the store's files take on disk.
    pub disk_bytes: u64,
    /// What the shared tier did for this store, over every run that used one (all zero
    /// if none did).
    pub remote: crate::RemoteCounts,
}

impl Stats {
    /// Hits as a share of all calls, from 0.0 to 1.0; 0.0 before any call.
    ///
    /// ```
    /// let stats = memo::Stats { hits: 3, misses: 1, ..Default::default() };
    /// assert_eq!(stats.hit_rate(), 0.75);
    /// ```
    pub fn hit_rate(&self) -> f64 {
        let calls = self.hits + self.misses;
        if calls == 0 {
            0.0
        } else {
            self.hits as f64 / calls as f64
        }
    }
}

/// The entry key that ends an index line, after `at` bytes of prefix; `None` for a line of
/// the wrong length (damaged).
fn key_after(line: &[u8], at: usize) -> Option<Digest> {
    let key: [u8; 32] = line.get(at..)?.try_into().ok()?;
    Some(Digest(key))
}

impl Store {
    /// The store's counters and sizes.
    ///
    /// Every hit and miss counted so far, on any thread, is in.
    ///
    /// ```
    /// let store = memo::Store::temporary().unwrap();
    /// let stats = store.stats().unwrap();
    /// assert_eq!((stats.hits, stats.misses, stats.entries), (0, 0, 0));
    /// ```
    pub fn stats(&self) -> Result<Stats> {
        self.inner.local()?;
        let inner = &*self.inner;
        let counted = inner.live.with_stored(inner.stored_counters()?);
        // One pass, holding only the hashes of results stored apart: a store of millions
        // of small results is counted in constant memory.
        let mut shared: HashMap<Digest, u64> = HashMap::new();
        let (mut entries, mut inline_bytes) = (0, 0);
        self.for_each_record(|_, record| {
            entries += 1;
            match record.inline {
                Some(inline) => inline_bytes += inline.len() as u64,
                None => {
                    shared.insert(record.output, record.size);
                }
            }
        })?;
        Ok(Stats {
            hits: counted.hits,
            misses: counted.misses,
            evictions: counted.evictions,
            refused: counted.refused,
            entries,
            blobs: inner.trees().blobs.len().map_err(|e| inner.storage(e))?,
            bytes: inline_bytes + shared.values().sum::<u64>(),
            disk_bytes: inner.db().size_on_disk().map_err(|e| inner.storage(e))?
                + super::files::disk_bytes(&inner.dir),
            remote: inner.remote_totals()?,
        })
    }

    /// Every stored entry, newest first.
    ///
    /// ```
    /// let store = memo::Store::temporary().unwrap();
    /// assert!(store.entries().unwrap().is_empty());
    /// ```
    pub fn entries(&self) -> Result<Vec<Entry>> {
        self.inner.local()?;
        let mut entries: Vec<Entry> = self
            .records()?
            .into_iter()
            .map(|(key, record)| record.to_entry(key))
            .collect();
        entries.sort_by(|a, b| b.created.cmp(&a.created).then(a.key.cmp(&b.key)));
        Ok(entries)
    }

    /// The entry stored under `key`, if any.
    ///
    /// ```
    /// #[memo::cached(tags = ["ml"])]
    /// fn score(x: u32) -> u32 {
    ///     x * 2
    /// }
    ///
    /// let store = memo::Store::temporary()?;
    /// memo::with_store(&store, || score(1));
    /// let entry = store.entries()?.remove(0);
    /// assert_eq!(store.entry(&entry.key)?.unwrap().function, entry.function);
    /// assert!(store.entry(&memo::Digest([0; 32]))?.is_none());
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn entry(&self, key: &Digest) -> Result<Option<Entry>> {
        self.inner.local()?;
        let inner = &*self.inner;
        let record = inner.read_entry(key)?;
        Ok(record.map(|record| record.to_entry(*key)))
    }

    /// How long the result stored under `key` took to compute, when the store has it
    /// here and recorded it.
    pub(crate) fn compute_time(&self, key: &Digest) -> Option<std::time::Duration> {
        self.inner.local().ok()?;
        let record = self.inner.read_entry(key).ok()??;
        record.compute_ns.map(std::time::Duration::from_nanos)
    }

    /// The encoded bytes (postcard) of the result stored under `key`, verified against its
    /// hash; `None` if there is no such entry or its result is missing or damaged.
    ///
    /// ```
    /// #[memo::cached(tags = ["ml"])]
    /// fn score(x: u32) -> u32 {
    ///     x * 2
    /// }
    ///
    /// let store = memo::Store::temporary()?;
    /// memo::with_store(&store, || score(1));
    /// let entry = store.entries()?.remove(0);
    /// let bytes = store.result(&entry.key)?.unwrap();
    /// assert_eq!(memo::Digest::of_bytes(&bytes), entry.output);
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn result(&self, key: &Digest) -> Result<Option<Vec<u8>>> {
        self.inner.local()?;
        let inner = &*self.inner;
        let Some(record) = inner.read_entry(key)? else {
            return Ok(None);
        };
        match record.inline {
            Some(bytes) => Ok((Digest::of_bytes(&bytes) == record.output).then_some(bytes)),
            None => self.blob(&record.output),
        }
    }

    /// The encoded bytes of a result kept as a blob (results over 256 bytes), by content
    /// hash, verified against the hash; `None` if absent or damaged. A result over 8 MiB,
    /// kept as a file beside the database, is read whole.
    ///
    /// ```
    /// #[memo::cached]
    /// fn big(n: usize) -> Vec<u8> {
    ///     vec![7; n]
    /// }
    ///
    /// let store = memo::Store::temporary()?;
    /// memo::with_store(&store, || big(1000));
    /// let entry = store.entries()?.remove(0);
    /// assert!(store.blob(&entry.output)?.is_some(), "over 256 bytes: a blob of its own");
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn blob(&self, output: &Digest) -> Result<Option<Vec<u8>>> {
        self.inner.local()?;
        let inner = &*self.inner;
        let raw = inner
            .trees()
            .blobs
            .get(output)
            .map_err(|e| inner.storage(e))?;
        Ok(raw.and_then(|raw| super::files::blob_bytes(&inner.dir, output, &raw)))
    }

    /// The entries that a `Memo` result with content hash `input` was passed to.
    ///
    /// ```
    /// #[memo::cached]
    /// fn load() -> memo::Memo<Vec<u32>> {
    ///     memo::Memo::new(vec![1, 2, 3])
    /// }
    ///
    /// #[memo::cached]
    /// fn sum(data: &memo::Memo<Vec<u32>>) -> u32 {
    ///     data.iter().sum()
    /// }
    ///
    /// let store = memo::Store::temporary()?;
    /// let data = memo::with_store(&store, || {
    ///     let data = load();
    ///     sum(&data);
    ///     data
    /// });
    /// assert_eq!(store.consumers(&data.hash())?.len(), 1);
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn consumers(&self, input: &Digest) -> Result<Vec<Digest>> {
        self.inner.local()?;
        let inner = &*self.inner;
        let mut consumers = Vec::new();
        for line in inner.trees().lineage.scan_prefix(input.as_bytes()).keys() {
            let line = line.map_err(|e| inner.storage(e))?;
            // A damaged line names no entry: skipped, never a panic.
            consumers.extend(key_after(&line, 32));
        }
        Ok(consumers)
    }

    /// The functions that have used this store, by name.
    ///
    /// ```
    /// #[memo::cached(tags = ["ml"])]
    /// fn score(x: u32) -> u32 {
    ///     x * 2
    /// }
    ///
    /// let store = memo::Store::temporary()?;
    /// memo::with_store(&store, || score(1));
    /// let entry = store.entries()?.remove(0);
    /// let names: Vec<String> = store.functions()?.into_iter().map(|f| f.name).collect();
    /// assert_eq!(names, vec![entry.function]);
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn functions(&self) -> Result<Vec<FunctionRecord>> {
        self.inner.local()?;
        let inner = &*self.inner;
        inner
            .trees()
            .functions
            .iter()
            .values()
            .filter_map(|raw| match raw {
                Ok(raw) => decode_exact::<FunctionRecord>(&raw).map(Ok),
                Err(e) => Some(Err(inner.storage(e))),
            })
            .collect()
    }

    /// The record of one function, by its name.
    ///
    /// ```
    /// #[memo::cached(tags = ["ml"])]
    /// fn score(x: u32) -> u32 {
    ///     x * 2
    /// }
    ///
    /// let store = memo::Store::temporary()?;
    /// memo::with_store(&store, || score(1));
    /// let entry = store.entries()?.remove(0);
    /// let record = store.function(&entry.function)?.unwrap();
    /// assert_eq!(record.versions.len(), 1);
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn function(&self, name: &str) -> Result<Option<FunctionRecord>> {
        self.inner.local()?;
        let inner = &*self.inner;
        inner.read(&inner.trees().functions, name)
    }

    /// Gives `version`'s components the source text the store recorded for them (when a
    /// program with that version first used the store, built with memo's `source`
    /// feature); whether it had any.
    ///
    /// ```
    /// #[memo::cached]
    /// fn doubled_for_its_source(x: u64) -> u64 {
    ///     x * 2
    /// }
    ///
    /// let store = memo::Store::temporary()?;
    /// memo::with_store(&store, || doubled_for_its_source(21));
    /// let name = memo::explain("doubled_for_its_source").unwrap().name;
    /// let record = store.function(&name)?.unwrap();
    /// let mut version = record.versions[0].clone();
    /// assert!(store.load_sources(&mut version)?);
    /// assert!(version.components[0].source.as_deref().unwrap().contains("x * 2"));
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn load_sources(&self, version: &mut crate::FunctionVersion) -> Result<bool> {
        self.inner.local()?;
        let inner = &*self.inner;
        let sources = &inner.trees().sources;
        let mut failed = None;
        let any = crate::code::attach(&mut version.components, |key| match sources.get(key) {
            Ok(text) => text.and_then(|text| crate::code::inflate(&text)),
            Err(e) => {
                failed.get_or_insert(e);
                None
            }
        });
        match failed {
            Some(e) => Err(inner.storage(e)),
            None => Ok(any),
        }
    }

    /// Removes every entry stored with `tag`; returns how many.
    ///
    /// ```
    /// #[memo::cached(tags = ["ml"])]
    /// fn score(x: u32) -> u32 {
    ///     x * 2
    /// }
    ///
    /// let store = memo::Store::temporary()?;
    /// memo::with_store(&store, || score(1));
    /// let entry = store.entries()?.remove(0);
    /// assert_eq!(store.invalidate_tag("ml")?, 1);
    /// assert_eq!(store.invalidate_tag("ml")?, 0);
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn invalidate_tag(&self, tag: &str) -> Result<usize> {
        if let Some(removed) = self.remove_through_holder(Removal::Tag(tag))? {
            return Ok(removed);
        }
        self.inner.local()?;
        self.forget_hot();
        let inner = &*self.inner;
        let tags = &inner.trees().tags;
        let prefix = tag_prefix(tag);
        let mut removed = 0;
        for line in tags.scan_prefix(&prefix).keys() {
            let line = line.map_err(|e| inner.storage(e))?;
            // A line can outlive its tag: an entry written again with other tags keeps its
            // old lines. Only an entry that still has the tag goes.
            if let Some(key) = key_after(&line, prefix.len())
                && let Some(record) = inner.read_entry(&key)?
                && record.tags.iter().any(|t| t == tag)
            {
                inner.remove_entry(&key, &record)?;
                removed += 1;
            }
            tags.remove(&line).map_err(|e| inner.storage(e))?;
        }
        self.forget_shared(&self.crates(), "tag", tag, |_| false);
        Ok(removed)
    }

    /// Removes every entry of the function named `name`, whatever its code version;
    /// returns how many.
    ///
    /// ```
    /// #[memo::cached(tags = ["ml"])]
    /// fn score(x: u32) -> u32 {
    ///     x * 2
    /// }
    ///
    /// let store = memo::Store::temporary()?;
    /// memo::with_store(&store, || score(1));
    /// let entry = store.entries()?.remove(0);
    /// assert_eq!(store.invalidate_fn(&entry.function)?, 1);
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn invalidate_fn(&self, name: &str) -> Result<usize> {
        if let Some(removed) = self.remove_through_holder(Removal::Function(name))? {
            return Ok(removed);
        }
        self.inner.local()?;
        self.forget_hot();
        let mut removed = 0;
        for (key, record) in self.records()? {
            if record.function == name {
                self.inner.remove_entry(&key, &record)?;
                removed += 1;
            }
        }
        self.forget_shared(&[self.crate_of(name)], "fn", name, |_| false);
        Ok(removed)
    }

    /// Removes one entry; returns whether it was there.
    ///
    /// ```
    /// #[memo::cached(tags = ["ml"])]
    /// fn score(x: u32) -> u32 {
    ///     x * 2
    /// }
    ///
    /// let store = memo::Store::temporary()?;
    /// memo::with_store(&store, || score(1));
    /// let entry = store.entries()?.remove(0);
    /// assert!(store.remove(&entry.key)?);
    /// assert!(!store.remove(&entry.key)?);
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn remove(&self, key: &Digest) -> Result<bool> {
        if let Some(removed) = self.remove_through_holder(Removal::Key(*key))? {
            return Ok(removed > 0);
        }
        self.inner.local()?;
        self.forget_hot();
        let inner = &*self.inner;
        let raw = inner
            .trees()
            .entries
            .get(key)
            .map_err(|e| inner.storage(e))?;
        match raw {
            Some(raw) => inner.remove_key(key, &raw).map(|()| true),
            None => Ok(false),
        }
    }

    /// Removes every entry and result. The function records and counters stay.
    ///
    /// ```
    /// #[memo::cached(tags = ["ml"])]
    /// fn score(x: u32) -> u32 {
    ///     x * 2
    /// }
    ///
    /// let store = memo::Store::temporary()?;
    /// memo::with_store(&store, || score(1));
    /// let entry = store.entries()?.remove(0);
    /// store.clear()?;
    /// assert!(store.entries()?.is_empty());
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn clear(&self) -> Result<()> {
        if self.remove_through_holder(Removal::All)?.is_some() {
            return Ok(());
        }
        self.inner.local()?;
        self.forget_hot();
        let inner = &*self.inner;
        for tree in inner.trees().of_results() {
            tree.clear().map_err(|e| inner.storage(e))?;
        }
        super::files::remove_results(&inner.dir);
        self.forget_shared(&self.crates(), "all", "", |_| false);
        Ok(())
    }

    /// A removal a served process asked for, done by the holder as it would its own.
    pub(super) fn remove_here(&self, removal: &Removal<'_>) -> Result<u64> {
        Ok(match removal {
            Removal::Tag(tag) => self.invalidate_tag(tag)? as u64,
            Removal::Function(name) => self.invalidate_fn(name)? as u64,
            Removal::Key(key) => u64::from(self.remove(key)?),
            Removal::All => {
                self.clear()?;
                0
            }
        })
    }

    /// Every readable entry record, with its key.
    pub(super) fn records(&self) -> Result<Vec<(Digest, EntryRecord)>> {
        let mut out = Vec::new();
        self.for_each_record(|key, record| out.push((key, record)))?;
        Ok(out)
    }

    /// Calls `each` with every readable entry record and its key, in key order.
    pub(super) fn for_each_record(&self, mut each: impl FnMut(Digest, EntryRecord)) -> Result<()> {
        self.for_each_row(|key, _, record| {
            if let (Ok(key), Some(record)) = (<[u8; 32]>::try_from(key), record) {
                each(Digest(key), record);
            }
            Ok(())
        })
    }

    /// Calls `each` with every row of the entries tree, in key order: its key, its bytes,
    /// and its whole record when the row and its details read as one. The details tree
    /// is read beside it, in the same order, so this is one pass over each.
    pub(super) fn for_each_row(
        &self,
        mut each: impl FnMut(&[u8], &[u8], Option<EntryRecord>) -> Result<()>,
    ) -> Result<()> {
        let inner = &*self.inner;
        let storage = |e| inner.storage(e);
        let mut details = inner.trees().details.iter().peekable();
        for item in inner.trees().entries.iter() {
            let (key, row) = item.map_err(storage)?;
            // Details of keys before this one have no row: skipped.
            while let Some(Ok((next, _))) = details.peek() {
                if next.as_ref() >= key.as_ref() {
                    break;
                }
                details.next();
            }
            let record = match details.peek() {
                Some(Ok((next, found))) if next.as_ref() == key.as_ref() => {
                    EntryRecord::join(&row, found)
                }
                Some(Err(_)) => {
                    let Some(Err(error)) = details.next() else {
                        unreachable!("peeked")
                    };
                    return Err(storage(error));
                }
                _ => None,
            };
            each(&key, &row, record)?;
        }
        Ok(())
    }

    pub(super) fn count_evictions(&self, n: u64) {
        self.inner.live.evicted(n);
    }
}
