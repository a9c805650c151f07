//! The store: one sled database per directory, holding results by content hash.

mod access;
mod archive;
mod gc;
mod manage;
mod open;
mod record;
mod registry;
mod serve;
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

pub(crate) use access::{NewEntry, read_entry_head};
pub(crate) use open::panic_message;
pub(crate) use record::{EntryRecord, decode_exact};

use crate::call::flight::Flights;
use crate::error::{Error, Result};
use record::Counters;

/// How long memo waits for the storage engine to write or close before it gives up.
const ENGINE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Runs `work` on a helper thread and waits up to [`ENGINE_TIMEOUT`] for it; `None` if it
/// did not finish (it is then abandoned, still running).
fn bounded<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (done, result) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("memo-store".into())
        .spawn(move || {
            let _ = done.send(work());
        });
    match spawned {
        Ok(_) => result.recv_timeout(ENGINE_TIMEOUT).ok(),
        Err(_) => None,
    }
}

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
    /// The open database; taken out when the store closes, so the lock can be waited for.
    /// `None` for a store another process holds and serves.
    engine: Option<Engine>,
    /// The connection to the process that holds this store, when this one does not.
    remote: Option<serve::Remote>,
    live: LiveCounters,
    /// The functions recorded in this store by this process, so each is written once.
    recorded: Mutex<HashSet<&'static str>>,
    /// Bumped whenever entries are removed, so the in-process tier drops what it held.
    epoch: AtomicU64,
    /// Whether results of this store are kept in the in-process tier.
    hot: bool,
    pub(crate) flights: Flights,
}

struct Engine {
    db: sled::Db,
    trees: Trees,
}

struct Trees {
    /// key → `EntryRecord`
    entries: sled::Tree,
    /// content hash → the encoded result
    blobs: sled::Tree,
    /// tag ‖ 0xff ‖ key → ()
    tags: sled::Tree,
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

/// Options for opening a store: [`Store::builder`].
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let store = memo::Store::builder(dir.path())
///     .cache_capacity(16 << 20)
///     .in_memory_tier(false)
///     .open()
///     .unwrap();
/// assert_eq!(store.dir(), dir.path().canonicalize().unwrap());
/// ```
#[derive(Debug, Clone)]
pub struct StoreBuilder {
    dir: Option<PathBuf>,
    cache_capacity: u64,
    hot: bool,
}

impl StoreBuilder {
    /// The bytes of sled's page cache (64 MiB by default; sled's own default is 1 GiB).
    pub fn cache_capacity(mut self, bytes: u64) -> StoreBuilder {
        self.cache_capacity = bytes;
        self
    }

    /// Whether this store's results are also kept in the in-process tier (the default),
    /// which makes warm hits a map lookup. Off, every hit reads the store.
    pub fn in_memory_tier(mut self, keep: bool) -> StoreBuilder {
        self.hot = keep;
        self
    }

    /// Opens the store; a directory this process already has open returns that store,
    /// with the options it was opened with.
    pub fn open(self) -> Result<Store> {
        let options = open::Options {
            cache_capacity: self.cache_capacity,
            hot: self.hot,
        };
        match &self.dir {
            Some(dir) => open::open(dir, &options),
            None => open::temporary(&options),
        }
        .map(|inner| Store { inner })
    }
}

impl Store {
    /// Options for opening the store in `dir`.
    pub fn builder(dir: impl AsRef<Path>) -> StoreBuilder {
        StoreBuilder {
            dir: Some(dir.as_ref().to_owned()),
            ..Store::temporary_builder()
        }
    }

    /// Options for a temporary store, as [`Store::temporary`] makes.
    pub fn temporary_builder() -> StoreBuilder {
        StoreBuilder {
            dir: None,
            cache_capacity: open::CACHE_CAPACITY,
            hot: true,
        }
    }

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
        Store::builder(dir).open()
    }

    /// A store in a new temporary directory, deleted when the last handle is dropped.
    /// Tests use it so they never write a store into the working tree.
    ///
    /// ```
    /// let store = memo::Store::temporary().unwrap();
    /// assert!(store.dir().exists());
    /// ```
    pub fn temporary() -> Result<Store> {
        Store::temporary_builder().open()
    }

    /// The directory the store lives in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    pub(crate) fn id(&self) -> u64 {
        self.inner.id
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.inner.epoch.load(Ordering::Acquire)
    }

    pub(crate) fn downgrade(&self) -> std::sync::Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    /// Whether this store is served by another process that has stopped answering. It is
    /// then forgotten, so that the next open holds it here or finds its new holder.
    pub(crate) fn take_broken(&self) -> bool {
        let broken = self
            .inner
            .remote
            .as_ref()
            .is_some_and(serve::Remote::is_broken);
        if broken {
            registry::forget(&self.inner);
        }
        broken
    }

    pub(crate) fn keeps_hot(&self) -> bool {
        self.inner.hot
    }

    /// Starts a new epoch: whatever the in-process tier holds for this store is dropped.
    pub(crate) fn forget_hot(&self) {
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
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
        if self.remote.is_some() {
            return;
        }
        serve::stop(&self.dir);
        let pending = crate::scope::take_hits(self.id);
        self.live.hits.fetch_add(pending, Ordering::Relaxed);
        if let Err(error) = self.flush() {
            crate::warn::once(&self.warning_topic(), || {
                format!("could not flush the store when closing it: {error}")
            });
        }
        let engine = self.engine.take();
        // Closing can block in sled when its last writes failed (a full disk): never let
        // that hang the program.
        if bounded(move || drop(engine)).is_none() {
            return;
        }
        // sled lets go of its lock from background threads a moment after the database
        // is dropped; wait for that, so a store closed here can be opened at once by
        // another process (or this one).
        open::wait_for_unlock(&self.dir);
    }
}

impl Inner {
    /// An error for operations only the process that holds the store can do.
    pub(crate) fn local(&self) -> Result<()> {
        match &self.remote {
            None => Ok(()),
            Some(remote) => Err(Error::Served {
                dir: self.dir.clone(),
                holder: remote.holder(),
                detail: "only the holder manages the store".into(),
            }),
        }
    }

    /// The topic of this store's degradation warnings: one warning per store and process.
    pub(crate) fn warning_topic(&self) -> String {
        format!("store failed {}", self.dir.display())
    }

    fn engine(&self) -> &Engine {
        self.engine
            .as_ref()
            .expect("the engine is there until the store is dropped")
    }

    fn trees(&self) -> &Trees {
        &self.engine().trees
    }

    fn db(&self) -> &sled::Db {
        &self.engine().db
    }

    /// The record under `key` in `tree`, decoded; `None` if absent or unreadable.
    fn read<T: serde::de::DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<T>> {
        let raw = tree.get(key).map_err(|e| self.storage(e))?;
        Ok(raw.and_then(|raw| decode_exact(&raw)))
    }

    fn storage(&self, source: sled::Error) -> Error {
        open::storage_error(&self.dir, source)
    }

    fn flush(&self) -> Result<()> {
        crate::call::flush_hits();
        if self.remote.is_some() {
            return Ok(()); // the holder writes
        }
        self.persist_counters()?;
        let db = self.db().clone();
        match bounded(move || db.flush()) {
            Some(result) => result.map(drop).map_err(|e| self.storage(e)),
            None => Err(self.storage(sled::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the storage engine did not finish writing in time (is the disk full?)",
            )))),
        }
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
        self.trees()
            .meta
            .insert("counters", record::encode(&stored))
            .map_err(|e| self.storage(e))?;
        *persisted = live;
        Ok(())
    }

    fn stored_counters(&self) -> Result<Counters> {
        let raw = self
            .trees()
            .meta
            .get("counters")
            .map_err(|e| self.storage(e))?;
        Ok(raw.and_then(|raw| decode_exact(&raw)).unwrap_or_default())
    }
}
