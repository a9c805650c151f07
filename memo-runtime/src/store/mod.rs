//! The store: one sled database per directory, holding results by content hash.

mod access;
mod archive;
mod gc;
mod manage;
mod open;
mod record;
mod registry;
mod verify;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use archive::ArchiveReport;
pub use gc::{Gc, GcReport};
pub use manage::Stats;
pub use record::{Component, Entry, FunctionRecord, FunctionVersion};
pub use verify::VerifyReport;

pub(crate) use open::panic_message;
pub(crate) use record::decode_exact;

use crate::call::flight::Flights;
use crate::error::{Error, Result};
use record::Counters;

/// The on-disk format of a store: its trees and records. A store stamped with another
/// version is refused, never misread.
pub const STORE_FORMAT_VERSION: u32 = 1;

/// A cache store: results on disk, keyed by code fingerprint and arguments.
///
/// A `Store` is a cheap handle (`Clone`, `Send`, `Sync`); clones share one open database.
/// Opening a directory that this process already has open returns the same store.
///
/// ```
/// use memo::Store;
///
/// let store = Store::temporary().unwrap();
/// let stats = store.stats().unwrap();
/// assert_eq!(stats.entries, 0);
/// assert_eq!(stats.hit_rate(), 0.0);
/// ```
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.inner.dir)
            .finish()
    }
}

impl PartialEq for Store {
    fn eq(&self, other: &Store) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Store {}

pub(crate) struct Inner {
    /// Unique in this process, so a call site can remember which store recorded it.
    id: u64,
    dir: PathBuf,
    db: sled::Db,
    trees: Trees,
    live: LiveCounters,
    /// The functions recorded in this store by this process, so each is written once.
    recorded: Mutex<HashSet<&'static str>>,
    pub(crate) flights: Flights,
}

struct Trees {
    /// key → `EntryRecord`
    entries: sled::Tree,
    /// content hash → the encoded result
    blobs: sled::Tree,
    /// tag ‖ 0xff ‖ key → ()
    tags: sled::Tree,
    /// function name ‖ 0xff ‖ key → ()
    by_function: sled::Tree,
    /// function name → `FunctionRecord`
    functions: sled::Tree,
    /// input content hash ‖ key → (): which entries a `Memo` argument fed
    lineage: sled::Tree,
    /// "format" → version, "counters" → `Counters`
    meta: sled::Tree,
}

/// Hits, misses and evictions since open, and how much of them is already persisted.
#[derive(Default)]
struct LiveCounters {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    persisted: Mutex<Counters>,
}

impl LiveCounters {
    fn snapshot(&self) -> Counters {
        Counters {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }
}

impl Store {
    /// Opens the store in `dir`, creating it if needed.
    ///
    /// A new directory gets a `.gitignore` of `*`, so a store is never committed by
    /// accident. Fails if another process holds the directory ([`Error::Locked`]), if the
    /// store has another format version ([`Error::FormatVersion`]), or if its files are
    /// damaged.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = memo::Store::open(dir.path().join("cache")).unwrap();
    /// let again = memo::Store::open(dir.path().join("cache")).unwrap();
    /// assert_eq!(store, again);
    /// ```
    pub fn open(dir: impl AsRef<Path>) -> Result<Store> {
        open::open(dir.as_ref()).map(|inner| Store { inner })
    }

    /// A store in a new temporary directory, deleted when the last handle is dropped.
    /// Tests use it so they never write a store into the working tree.
    ///
    /// ```
    /// let store = memo::Store::temporary().unwrap();
    /// assert!(store.dir().exists());
    /// ```
    pub fn temporary() -> Result<Store> {
        open::temporary().map(|inner| Store { inner })
    }

    /// The directory the store lives in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Writes everything buffered to disk, with the counters.
    ///
    /// memo flushes on its own every half second and when the process exits normally;
    /// call this where a result must be durable at once.
    ///
    /// ```
    /// let store = memo::Store::temporary().unwrap();
    /// store.flush().unwrap();
    /// ```
    pub fn flush(&self) -> Result<()> {
        self.inner.flush()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(error) = self.flush() {
            crate::warn::once("flush on close", || {
                format!("memo: could not flush the store when closing it: {error}")
            });
        }
    }
}

impl Inner {
    fn storage(&self, source: sled::Error) -> Error {
        open::storage_error(&self.dir, source)
    }

    fn flush(&self) -> Result<()> {
        self.persist_counters()?;
        self.db.flush().map_err(|e| self.storage(e))?;
        Ok(())
    }

    /// Adds the counts since the last persist to the stored totals.
    fn persist_counters(&self) -> Result<()> {
        let mut persisted = self
            .live
            .persisted
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let live = self.live.snapshot();
        if live == *persisted {
            return Ok(());
        }
        let mut stored = self.stored_counters()?;
        stored.hits += live.hits - persisted.hits;
        stored.misses += live.misses - persisted.misses;
        stored.evictions += live.evictions - persisted.evictions;
        self.trees
            .meta
            .insert("counters", record::encode(&stored))
            .map_err(|e| self.storage(e))?;
        *persisted = live;
        Ok(())
    }

    fn stored_counters(&self) -> Result<Counters> {
        let raw = self
            .trees
            .meta
            .get("counters")
            .map_err(|e| self.storage(e))?;
        Ok(raw.and_then(|raw| decode_exact(&raw)).unwrap_or_default())
    }
}
