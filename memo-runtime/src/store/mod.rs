//! The store: one redb database per directory, holding results by content hash.

mod access;
mod archive;
mod budget;
mod counters;
mod doctor;
mod engine;
mod files;
mod fork;
mod gc;
mod manage;
mod open;
mod private;
mod problem;
mod record;
mod registry;
mod seal;
mod serve;
mod shared;
mod verify;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use archive::ArchiveReport;
pub use doctor::{Diagnosis, Holder};
pub use engine::Engine;
pub use gc::{Gc, GcReport};
pub use manage::Stats;
pub use problem::Problem;
pub use record::{Component, Entry, FunctionRecord, FunctionVersion};
pub(crate) use shared::{Ask, SharedLead, SharedLock};
pub use shared::{RemoteConfig, RemoteCounts, RemoteReport, RemoteStats};
pub use verify::VerifyReport;

pub(crate) use access::{Bytes, FunctionInfo, Hit, NewEntry, Payload, read_entry_head};
pub(crate) use engine::{EngineError, Raw};
pub(crate) use files::{BlobFile, DIR as FILES_DIR, FILE_MIN, Staged};
pub(crate) use record::{EntryRecord, decode_exact};
pub(crate) use serve::{Lead, Lease, knock, squat};

use crate::error::{Error, Result};
use counters::LiveCounters;
use record::Counters;

/// The on-disk format of a store: its trees and records. A store stamped with another
/// version is refused, never misread. Version 1 was a sled database in the store
/// directory itself; version 2 is one database of the store's engine: a redb file,
/// `store.redb`, or a sled directory, `store.sled`. Version 3 keys a call with its code's
/// fingerprint last, so that its identity across versions comes with its key, and each
/// entry record ends with that identity and the call's readable arguments. A version 2
/// store, whose keys cannot be found again, is emptied when opened (with one warning).
/// Version 4's entry records end with the result's compute time; a version 3 store is
/// read as it is (its records, one field short, decode with none) and stamped 4, so that
/// older builds, which would not read the new records, refuse it. Version 5's entry
/// records end with a MAC binding the result to its key under the store's secret; a
/// version 3 or 4 store — its user's own — has its entries signed when first opened.
/// Version 6 keeps each record in two trees: the row a lookup reads (its result's hash,
/// times and inline result) and the rest, so that the rows stay small; a version 3 to 5
/// store has its records split when first opened.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// drop(memo::Store::open(dir.path()).unwrap());
/// assert_eq!(memo::Store::diagnose(dir.path()).format, Ok(memo::STORE_FORMAT_VERSION));
/// ```
pub const STORE_FORMAT_VERSION: u32 = 6;

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
    inner: Arc<Inner>,
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
    /// The open database; `None` for a store another process holds and serves.
    engine: Option<Opened>,
    /// The storage engine: this process's, or the holder's for a served store.
    kind: Engine,
    /// The connection to the process that holds this store, when this one does not.
    remote: Option<serve::Remote>,
    /// The shared tier behind this store, if one is configured and usable.
    shared: Option<shared::SharedTier>,
    live: LiveCounters,
    /// The shared tier's counts not yet in the store's totals.
    remote_counts: shared::Totals,
    /// The functions recorded in this store by this process, so each is written once,
    /// and the [`Inner::record_token`] they were recorded under.
    recorded: Mutex<(u64, HashSet<&'static str>)>,
    /// Bumped whenever entries are removed, so the in-memory tier drops what it held.
    epoch: AtomicU64,
    /// Whether results of this store are kept in the in-memory tier.
    hot: bool,
    /// Whether the directory is removed when the store closes ([`Store::temporary`]).
    temporary: bool,
    /// Who computes each key among the processes sharing this store, when this process
    /// holds it.
    leases: Arc<serve::Leases>,
    /// The store as this process opened it again (see [`Store::in_this_process`]).
    again: Mutex<Again>,
    /// The process that opened it. A child forked from that process inherits the handle
    /// but not its threads: it must never write, compact or close the parent's database,
    /// and opens the store as a new process would.
    pid: u32,
    /// The fork count (see `fork::generation`) when it was opened; the constructors
    /// install the handler that counts, so a fork after this is always counted.
    forks: u64,
    /// The size budget its entries are kept within, when it has one and this process
    /// holds it.
    budget: Option<Arc<budget::Budget>>,
    /// The MAC key of its entries, from the store's secret.
    seal: seal::Seal,
}

/// A handle's store opened again, by the process (its pid) that did.
#[derive(Default)]
enum Again {
    #[default]
    Not,
    Opened(u32, Store),
    /// It could not be, and is tried again at this time; the wait after that, if it
    /// fails again, is twice this one (up to [`AGAIN_MAX`]).
    Failed(u32, std::time::Instant, std::time::Duration),
}

/// The first and the longest wait before a store that could not be opened again is tried
/// again: as the default store's, so that a handle the program opened itself is back on
/// the cache as soon after a takeover as the default store is.
const AGAIN_FIRST: std::time::Duration = std::time::Duration::from_millis(50);
const AGAIN_MAX: std::time::Duration = std::time::Duration::from_secs(5);

struct Opened {
    db: engine::Database,
    /// Stopped first when the store closes, so that what it buffered is committed.
    writer: engine::Writer,
    trees: Trees,
}

struct Trees {
    /// key → the row of its `EntryRecord` a lookup reads (`EntryRecord::split`)
    entries: engine::Tree,
    /// content hash → the encoded result
    blobs: engine::Tree,
    /// tag ‖ 0xff ‖ key → ()
    tags: engine::Tree,
    /// function name → `FunctionRecord`
    functions: engine::Tree,
    /// input content hash ‖ key → (): which entries a `Memo` argument fed
    lineage: engine::Tree,
    /// "format" → version, "counters" → `Counters`
    meta: engine::Tree,
    /// `code::key` (a component's path and hash) → its source text, deflated: written
    /// once, when a program with a version that reaches it first records that version
    sources: engine::Tree,
    /// key → the rest of its `EntryRecord` (`EntryRecord::split`): what a lookup does not
    /// read, kept apart so the rows it reads stay small
    details: engine::Tree,
}

impl Trees {
    /// Writes the entry record under `key`: its details, then the row lookups find, so
    /// that a write cut short leaves details no lookup reads, never a row without them.
    fn write_entry(&self, key: &crate::Digest, record: &EntryRecord) -> engine::EngineResult<()> {
        let (row, details) = record.split();
        self.details.insert(key, details)?;
        self.entries.insert(key, row)
    }

    /// The trees that hold results and what points at them: what `clear` empties, while
    /// the function records, sources and counters stay.
    fn of_results(&self) -> [&engine::Tree; 5] {
        [
            &self.entries,
            &self.details,
            &self.tags,
            &self.lineage,
            &self.blobs,
        ]
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
    heal: bool,
    engine: Option<Engine>,
    remote: Option<RemoteConfig>,
    limits: budget::Limits,
}

impl StoreBuilder {
    /// Keeps the store's results and entries within `bytes` (else `MEMO_MAX_SIZE` says,
    /// for a store opened at a directory, like `10GiB`): past it, the least recently used
    /// entries are evicted by a thread of the store's own, down to 90% of it, and counted
    /// as evictions in [`Stats`]. A call never waits for it. Each entry counts its
    /// result's bytes (a result several entries share, once) and 160 bytes for its key and
    /// record.
    ///
    /// ```
    /// let store = memo::Store::temporary_builder().max_bytes(64 << 20).open()?;
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn max_bytes(mut self, bytes: u64) -> StoreBuilder {
        self.limits.max_bytes = Some(bytes);
        self
    }

    /// Keeps the store within `entries` entries (else `MEMO_MAX_ENTRIES` says), as
    /// [`max_bytes`](StoreBuilder::max_bytes) does bytes.
    ///
    /// ```
    /// let store = memo::Store::temporary_builder().max_entries(100_000).open()?;
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn max_entries(mut self, entries: u64) -> StoreBuilder {
        self.limits.max_entries = Some(entries);
        self
    }

    /// A shared tier on Redis behind the store (else `MEMO_REMOTE` says, for a store
    /// opened at a directory): results other machines computed are hits here, and, when
    /// it is read-write, what this one computes is shared. Needs the `remote` feature.
    ///
    /// ```
    /// // Without a secret the tier is off, with one warning; the local store works as ever.
    /// let tier = memo::RemoteConfig::new("redis://127.0.0.1:6379").namespace("doc");
    /// let store = memo::Store::temporary_builder().remote(tier).open()?;
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn remote(mut self, remote: RemoteConfig) -> StoreBuilder {
        self.remote = Some(remote);
        self
    }

    /// The storage engine to keep the store in. Unset, a store directory is opened with
    /// the engine that wrote it, and a new one gets `MEMO_ENGINE` (`redb` or `sled`), else
    /// redb. Set (here or by `MEMO_ENGINE`), a directory another engine wrote is refused
    /// ([`Error::Engine`]): it is never opened empty beside the other's files.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// drop(memo::Store::builder(dir.path()).engine(memo::Engine::Redb).open().unwrap());
    /// let again = memo::Store::open(dir.path()).unwrap();
    /// assert_eq!(again.engine(), memo::Engine::Redb);
    /// ```
    pub fn engine(mut self, engine: Engine) -> StoreBuilder {
        self.engine = Some(engine);
        self
    }

    /// The bytes of the storage engine's page cache: 32 MiB by default. This bounds the
    /// memory a store uses beyond the in-memory tier, however many entries it holds.
    ///
    /// ```
    /// let store = memo::Store::temporary_builder().cache_capacity(8 << 20).open()?;
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn cache_capacity(mut self, bytes: u64) -> StoreBuilder {
        self.cache_capacity = bytes;
        self
    }

    /// Whether this store's results are also kept in the in-memory tier (the default),
    /// which makes warm hits a map lookup. Off, every hit reads the store.
    ///
    /// ```
    /// let every_hit_reads_the_store = memo::Store::temporary_builder().in_memory_tier(false).open()?;
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn in_memory_tier(mut self, keep: bool) -> StoreBuilder {
        self.hot = keep;
        self
    }

    /// Whether a damaged database is moved aside (to `store.redb.damaged` or
    /// `store.sled.damaged`, keeping the last one) and replaced by a fresh store, with one warning — the default, found
    /// at open or on any later read. Off, the damage is an error ([`Error::Corrupt`]) and
    /// the file is left as it is: what `memo` commands that only look use.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// std::fs::write(dir.path().join("store.redb"), b"not a database").unwrap();
    /// let error = memo::Store::builder(dir.path()).heal(false).open().unwrap_err();
    /// assert!(matches!(error, memo::Error::Corrupt { .. }), "{error}");
    /// let store = memo::Store::builder(dir.path()).open().unwrap();
    /// assert!(dir.path().join("store.redb.damaged").exists());
    /// # drop(store);
    /// ```
    pub fn heal(mut self, heal: bool) -> StoreBuilder {
        self.heal = heal;
        self
    }

    /// Opens the store; a directory this process already has open returns that store,
    /// with the options it was opened with.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = memo::Store::builder(dir.path()).open()?;
    /// assert_eq!(store, memo::Store::builder(dir.path()).open()?);
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn open(self) -> Result<Store> {
        let options = open::Options {
            cache_capacity: self.cache_capacity,
            hot: self.hot,
            heal: self.heal,
            engine: self.engine,
            remote: self.remote,
            limits: self.limits,
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
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = memo::Store::builder(dir.path().join("cache")).heal(false).open()?;
    /// assert!(store.dir().ends_with("cache"));
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn builder(dir: impl AsRef<Path>) -> StoreBuilder {
        StoreBuilder {
            dir: Some(dir.as_ref().to_owned()),
            ..Store::temporary_builder()
        }
    }

    /// Options for a temporary store, as [`Store::temporary`] makes.
    ///
    /// ```
    /// let store = memo::Store::temporary_builder().max_entries(1000).open()?;
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn temporary_builder() -> StoreBuilder {
        StoreBuilder {
            dir: None,
            cache_capacity: open::CACHE_CAPACITY,
            hot: true,
            heal: true,
            engine: None,
            remote: None,
            limits: budget::Limits::default(),
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
    ///
    /// ```
    /// let store = memo::Store::temporary()?;
    /// assert!(store.dir().is_dir());
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The storage engine the store is kept in.
    ///
    /// ```
    /// let store = memo::Store::temporary().unwrap();
    /// assert!(store.engine().is_available());
    /// ```
    pub fn engine(&self) -> Engine {
        self.inner.kind
    }

    /// Whether another process holds the store and serves it to this one. Calls and
    /// removals then go through that process; listings, `stats` and `gc` are its alone.
    ///
    /// ```
    /// let store = memo::Store::temporary()?;
    /// assert!(!store.is_served(), "this process holds it");
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn is_served(&self) -> bool {
        self.inner.remote.is_some()
    }

    #[inline]
    pub(crate) fn id(&self) -> u64 {
        self.inner.id
    }

    #[inline]
    pub(crate) fn epoch(&self) -> u64 {
        self.inner.epoch.load(Ordering::Acquire)
    }

    /// Whether this handle is one a forked child inherited from the process that opened
    /// it (see [`Inner::forked`]): its memory tiers are the parent's.
    #[inline]
    pub(crate) fn forked(&self) -> bool {
        self.inner.forked()
    }

    /// Says a problem with this store once, and keeps it for `memo doctor`.
    pub(crate) fn report_problem(&self, message: impl FnOnce() -> String) {
        self.inner.report_problem(message);
    }

    /// This store as this process may use it: itself; or the same directory opened
    /// anew — in a child forked from the process that opened it (as a new process would,
    /// served by the parent while it holds the store), or when the process that served
    /// this handle is gone (held here now, or served by whoever took it over). `None`
    /// while that cannot be opened (tried again after 50 ms, then twice as long each time,
    /// up to 5 s), or the store is a
    /// temporary one that was the parent's.
    pub(crate) fn in_this_process(&self) -> Option<Store> {
        let gone = |store: &Store| {
            store.inner.forked()
                || store
                    .inner
                    .remote
                    .as_ref()
                    .is_some_and(serve::Remote::is_broken)
        };
        if !gone(self) {
            return Some(self.clone());
        }
        if self.inner.temporary {
            return None;
        }
        let mut again = self.inner.again.lock().unwrap_or_else(|p| p.into_inner());
        let me = std::process::id();
        match &*again {
            Again::Opened(pid, store) if *pid == me && !gone(store) => {
                return Some(store.clone());
            }
            Again::Failed(pid, at, _) if *pid == me && std::time::Instant::now() < *at => {
                return None;
            }
            _ => {}
        }
        let wait = match &*again {
            Again::Failed(pid, _, wait) if *pid == me => (*wait * 2).min(AGAIN_MAX),
            _ => AGAIN_FIRST,
        };
        match Store::builder(&self.inner.dir)
            .in_memory_tier(self.inner.hot)
            .open()
        {
            Ok(store) => {
                *again = Again::Opened(me, store.clone());
                Some(store)
            }
            Err(_) => {
                *again = Again::Failed(me, std::time::Instant::now() + wait, wait);
                None
            }
        }
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

    #[inline]
    pub(crate) fn keeps_hot(&self) -> bool {
        self.inner.hot
    }

    /// Starts a new epoch: whatever the in-memory tier holds for this store is dropped —
    /// here, and in the process that holds the store if another one does.
    pub(crate) fn forget_hot(&self) {
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
        if let Some(remote) = &self.inner.remote {
            let _ = remote.forget();
        }
    }

    /// Writes everything buffered to disk, with the counters, and waits until it is there.
    ///
    /// memo commits new results in the background as they come, batching what arrives
    /// while a commit is under way, and flushes when the process exits normally; call this
    /// where a result must be durable at once.
    ///
    /// ```
    /// let store = memo::Store::temporary().unwrap();
    /// store.flush().unwrap();
    /// ```
    pub fn flush(&self) -> Result<()> {
        self.inner.flush()
    }
}

impl Inner {
    /// Waits, up to a second, for this process's writes to the shared tier to reach it.
    pub(super) fn drain_shared(&self) {
        if let Some(shared) = &self.shared {
            shared.drain(std::time::Duration::from_secs(1));
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.forked() {
            // What this process computed last reaches the others, within a bound.
            self.drain_shared();
        }
        if self.forked() {
            // The parent's database, writer and socket are the parent's to close.
            std::mem::forget(self.engine.take());
            std::mem::forget(self.remote.take());
            return;
        }
        if let Some(remote) = &self.remote {
            // What its shared tier counted goes to the holder, which keeps the totals.
            let _ = self.send_remote_counts(remote);
            return;
        }
        fork::untrack(&self.dir);
        // Another process may have taken the store over while this one had lost its
        // file: then the socket and pid file are that process's.
        if open::holds(&self.dir) {
            serve::stop(&self.dir);
            open::let_go(&self.dir);
        }
        // A temporary store is about to be deleted: flushed (its writer must finish), never
        // compacted.
        let closed = if self.temporary {
            self.flush()
        } else {
            self.close()
        };
        if let Err(error) = closed {
            self.report_problem(|| format!("could not flush the store when closing it: {error}"));
        }
        if let Some(mut engine) = self.engine.take() {
            // Bounded: a writer stuck on a full disk is left behind rather than hanging
            // the program.
            if engine.writer.stop() {
                drop(engine); // closes the file, which lets go of its lock
            } else {
                std::mem::forget(engine);
            }
        }
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Inner {
    /// An error for operations only the process that holds the store can do — and only
    /// while it has its file: removals made on the stand-in that replaces a file lost to
    /// an I/O error would not last.
    pub(crate) fn local(&self) -> Result<()> {
        if self
            .engine
            .as_ref()
            .is_some_and(|engine| engine.db.is_detached())
        {
            return Err(Error::Storage {
                dir: self.dir.clone(),
                source: "the database file could not be opened again after an I/O error".into(),
            });
        }
        if self.forked() {
            return Err(Error::Served {
                dir: self.dir.clone(),
                holder: Some(self.pid),
                detail: "this handle was opened before the process forked; open the store again in the child".into(),
            });
        }
        match &self.remote {
            None => Ok(()),
            Some(remote) => Err(Error::Served {
                dir: self.dir.clone(),
                holder: remote.holder(),
                detail: "only the holder manages the store".into(),
            }),
        }
    }

    /// Stops serving the store to other processes, if this process does, and says it
    /// closed the store cleanly.
    pub(crate) fn stop_serving(&self) {
        if self.remote.is_none() && !self.temporary && !self.forked() && open::holds(&self.dir) {
            serve::stop(&self.dir);
            open::let_go(&self.dir);
        }
    }

    /// Whether this handle was opened by another process, which this one was forked from.
    /// One atomic load (the fork count, see `fork::generation`), cheap enough for the
    /// warm path: an inherited handle's memory tiers are the parent's, and may have gone
    /// stale since.
    #[inline]
    pub(crate) fn forked(&self) -> bool {
        self.forks != fork::generation()
    }

    /// The topic of this store's degradation warnings: one warning per store and process.
    pub(crate) fn warning_topic(&self) -> String {
        open::warning_topic(&self.dir)
    }

    /// How many times this store's file has been replaced for damage in this process.
    pub(crate) fn heals(&self) -> u64 {
        self.engine.as_ref().map_or(0, |engine| engine.db.heals())
    }

    /// Replaces the file, found damaged (`detail`) by a check the engine cannot make;
    /// `false` if it could not be, or another process holds the store.
    pub(crate) fn replace_damaged(&self, detail: &str) -> bool {
        self.engine
            .as_ref()
            .is_some_and(|engine| engine.db.replace_damaged(detail))
    }

    /// Says a problem with this store once, and keeps it for `memo doctor`.
    pub(crate) fn report_problem(&self, message: impl FnOnce() -> String) {
        problem::report(&self.dir, &self.warning_topic(), message);
    }

    /// Which file function records were written to: this store, and how many times its
    /// file has been replaced for damage. Ids stay below 2^41, heals above.
    fn record_token(&self) -> u64 {
        self.id ^ (self.heals() << 44)
    }

    fn opened(&self) -> &Opened {
        self.engine
            .as_ref()
            .expect("the engine is there until the store is dropped")
    }

    fn trees(&self) -> &Trees {
        &self.opened().trees
    }

    fn db(&self) -> &engine::Database {
        &self.opened().db
    }

    /// The record under `key` in `tree`, decoded; `None` if absent or unreadable.
    fn read<T: serde::de::DeserializeOwned>(
        &self,
        tree: &engine::Tree,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<T>> {
        let raw = tree.get(key).map_err(|e| self.storage(e))?;
        Ok(raw.and_then(|raw| decode_exact(&raw)))
    }

    /// The entry record under `key`, if its row and details are there and decode.
    fn read_entry(&self, key: &crate::Digest) -> Result<Option<EntryRecord>> {
        let trees = self.trees();
        let Some(row) = trees.entries.get(key).map_err(|e| self.storage(e))? else {
            return Ok(None);
        };
        let details = trees.details.get(key).map_err(|e| self.storage(e))?;
        Ok(details.and_then(|details| EntryRecord::join(&row, &details)))
    }

    /// Writes the entry record under `key` (see [`Trees::write_entry`]).
    fn write_entry(&self, key: &crate::Digest, record: &EntryRecord) -> Result<()> {
        self.trees()
            .write_entry(key, record)
            .map_err(|e| self.storage(e))
    }

    /// Rewrites the row of the entry record under `key`, whose details are as they were
    /// (`gc`'s new times).
    fn write_row(&self, key: &crate::Digest, record: &EntryRecord) -> Result<()> {
        self.trees()
            .entries
            .insert(key, record.row())
            .map_err(|e| self.storage(e))
    }

    fn storage(&self, source: engine::EngineError) -> Error {
        open::storage_error(&self.dir, source)
    }

    /// The bytes the database takes on disk (not counting result files).
    pub(super) fn database_bytes(&self) -> Result<u64> {
        self.db().size_on_disk().map_err(|e| self.storage(e))
    }

    /// Compacts the database file if more than half of it is free room and it is at most
    /// `max_file` bytes; returns the bytes it shrank by.
    pub(super) fn compact(&self, max_file: u64) -> Result<u64> {
        if self.remote.is_some() {
            return Ok(0);
        }
        let size = |db: &engine::Database| db.size_on_disk().map_err(|e| self.storage(e));
        let before = size(self.db())?;
        if before > max_file || !self.db().compact().map_err(|e| self.storage(e))? {
            return Ok(0);
        }
        Ok(before.saturating_sub(size(self.db())?))
    }

    /// Flushes, and compacts a file of up to 1 GiB that writes have left mostly free (a
    /// bigger one waits for `memo gc`, so that closing stays quick): what a process does
    /// when it is done with the store.
    pub(super) fn close(&self) -> Result<()> {
        if self.forked() {
            return Ok(());
        }
        self.flush()?;
        self.compact(1 << 30).map(drop)
    }

    fn flush(&self) -> Result<()> {
        if self.forked() {
            return Ok(()); // the parent's writes are the parent's
        }
        if let Some(remote) = &self.remote {
            // The holder writes; the shared tier's counts of this process go to it.
            return self.send_remote_counts(remote);
        }
        self.persist_counters()?;
        self.db().sync().map_err(|e| self.storage(e))
    }

    /// Adds the counts since the last persist to the stored totals.
    fn persist_counters(&self) -> Result<()> {
        self.live.persist(|add| {
            let stored = add(self.stored_counters()?);
            self.trees()
                .meta
                .insert("counters", record::encode(&stored))
                .map_err(|e| self.storage(e))
        })?;
        self.persist_remote_counts()
    }

    fn stored_counters(&self) -> Result<Counters> {
        let raw = self
            .trees()
            .meta
            .get("counters")
            .map_err(|e| self.storage(e))?;
        Ok(raw
            .and_then(|raw| Counters::decode(&raw))
            .unwrap_or_default())
    }
}
