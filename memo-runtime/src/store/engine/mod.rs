//! The storage engine under the store: named trees of bytes in one database — a redb
//! file or a sled directory, behind one seam (`backend`) — with writes buffered in memory
//! and committed by a background writer.
//!
//! A write returns once it is in the buffer, and every read sees it from then on; the
//! writer commits whatever has gathered in one durable transaction, so a burst of misses
//! costs one commit, not one each. Scans first wait for the buffer to be committed, then
//! read the database.

mod backend;
mod heal;
mod redb_file;
#[cfg(feature = "sled")]
mod sled_dir;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use backend::Engine;
use backend::{Backend, View};
pub(crate) use heal::Healed;
use writer::Found;
pub(crate) use writer::{Buffered, Writer};

/// The bytes of a key or a value.
pub(crate) type Bytes = Arc<[u8]>;

/// How many items a scan reads in one read transaction.
const SCAN_CHUNK: usize = 1024;

/// The trees of a store, each a redb table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Table {
    Entries,
    Blobs,
    Tags,
    Functions,
    Lineage,
    Meta,
    Sources,
    Details,
}

impl Table {
    pub(crate) const ALL: [Table; 8] = [
        Table::Entries,
        Table::Blobs,
        Table::Tags,
        Table::Functions,
        Table::Lineage,
        Table::Meta,
        Table::Sources,
        Table::Details,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The tree's name in the database.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::Entries => "entries",
            Table::Blobs => "blobs",
            Table::Tags => "tags",
            Table::Functions => "functions",
            Table::Lineage => "lineage",
            Table::Meta => "meta",
            Table::Sources => "sources",
            Table::Details => "details",
        }
    }
}

/// The database of a closed store, opened with its engine and nothing else: no buffer, no
/// healing, no checks (for tests that damage a store on purpose).
pub(crate) struct Raw(Box<dyn Backend>);

impl Raw {
    /// Opens the database in the store directory `dir`, with the engine that wrote it.
    pub(crate) fn open(dir: &Path) -> EngineResult<Raw> {
        let engine = Engine::found_in(dir).unwrap_or(Engine::Redb);
        Ok(Raw(engine.open(&engine.path_in(dir), 1 << 20, &[])?))
    }

    fn table(name: &str) -> EngineResult<Table> {
        Table::ALL
            .into_iter()
            .find(|table| table.name() == name)
            .ok_or_else(|| EngineError::Failed(format!("no tree {name:?}").into()))
    }

    /// Every key of tree `name`, in order.
    pub(crate) fn keys(&self, name: &str) -> EngineResult<Vec<Bytes>> {
        let table = Raw::table(name)?;
        let mut keys = Vec::new();
        loop {
            let chunk = self
                .0
                .scan(table, &[], keys.last().map(|k: &Bytes| &k[..]), SCAN_CHUNK)?;
            let done = chunk.len() < SCAN_CHUNK;
            keys.extend(chunk.into_iter().map(|(key, _)| key));
            if done {
                return Ok(keys);
            }
        }
    }

    /// The value under `key` in tree `name`.
    pub(crate) fn get(&self, name: &str, key: &[u8]) -> EngineResult<Option<Bytes>> {
        self.0.snapshot()?.get(Raw::table(name)?, key)
    }

    /// Sets the value under `key` in tree `name`, durably.
    pub(crate) fn insert(&self, name: &str, key: &[u8], value: &[u8]) -> EngineResult<()> {
        let mut batch = writer::Batch::default();
        batch.put(Raw::table(name)?, key, Some(Bytes::from(value)));
        self.0.commit(&batch)
    }
}

/// Why the engine failed.
#[derive(Debug)]
pub(crate) enum EngineError {
    /// Another handle (in this process or another) has the file open.
    Locked,
    /// The file is damaged.
    Corrupt(String),
    /// The engine refuses all work since an earlier I/O error (a disk that was full)
    /// until its database is opened again.
    Refusing(Box<dyn std::error::Error + Send + Sync>),
    /// Anything else, with what the engine said.
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::Locked => f.write_str("the database is open elsewhere"),
            EngineError::Corrupt(detail) => write!(f, "the database is damaged: {detail}"),
            EngineError::Refusing(error) | EngineError::Failed(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for EngineError {}

impl EngineError {
    /// Whether the file is damaged, rather than unreachable or its disk full.
    pub(crate) fn is_damage(&self) -> bool {
        matches!(self, EngineError::Corrupt(_))
    }

    /// Whether the engine refuses all work since an earlier I/O error until its database
    /// is opened again.
    fn is_poisoned(&self) -> bool {
        matches!(self, EngineError::Refusing(_))
    }
}

pub(crate) type EngineResult<T> = std::result::Result<T, EngineError>;

/// Runs `work` against the database, turning a panic into an error: redb can panic on a
/// damaged file rather than report it, and the cache must never take the program down.
pub(crate) fn contained<T>(work: impl FnOnce() -> EngineResult<T>) -> EngineResult<T> {
    crate::contain::quietly(work).unwrap_or_else(|panic| {
        Err(EngineError::Corrupt(format!(
            "the storage engine panicked: {panic}"
        )))
    })
}

/// An open database: cheap to clone, shared with its writer thread.
#[derive(Clone)]
pub(crate) struct Database {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    /// Read-locked by every use of the database, write-locked to compact it or to replace
    /// it: either needs the file to itself.
    db: RwLock<Box<dyn Backend>>,
    buffer: Buffered,
    engine: Engine,
    path: PathBuf,
    options: Options,
    /// Bumped each time the file is replaced for damage.
    heals: AtomicU64,
    /// Bumped each time the handle on the file changes (replaced, or opened again), so
    /// that failures seen before do not change it once more.
    generation: AtomicU64,
    /// Whether the file could not be opened again after an I/O error: the handle is an
    /// empty stand-in in memory (reads miss, writes are dropped) until it can be.
    detached: std::sync::atomic::AtomicBool,
    /// When the file was last opened again, in ms since `opened`.
    reopened_ms: AtomicU64,
    opened: std::time::Instant,
}

/// How an engine opens its file, and what it does when the file is damaged.
pub(crate) struct Options {
    /// The bytes of redb's page cache.
    pub cache_bytes: u64,
    /// Whether a damaged file is moved aside (to [`DAMAGED_FILE`]) and replaced by a
    /// fresh one; otherwise the damage is reported, and the file left alone.
    pub heal: bool,
    /// What a fresh file holds from the start (the store's format stamp).
    pub seed: Vec<(Table, Vec<u8>, Vec<u8>)>,
    /// Hears of a commit that failed.
    pub on_error: Box<dyn Fn(&EngineError) + Send + Sync>,
    /// Hears that a damaged file was replaced.
    pub on_heal: Box<dyn Fn(&Healed) + Send + Sync>,
    /// Hears that the handle on the file changed (replaced, or opened again), and with
    /// it the descriptor the file is open through.
    pub on_swap: Box<dyn Fn() + Send + Sync>,
}

/// Below this size a file is not worth compacting.
const COMPACT_MIN_BYTES: u64 = 8 << 20;

impl Database {
    /// Opens (creating if needed) the database of `engine` in the store directory `dir`
    /// and starts its writer. A database found damaged is moved aside and replaced, if
    /// `options` say so.
    pub(crate) fn open(
        engine: Engine,
        dir: &Path,
        mut options: Options,
    ) -> EngineResult<(Database, Writer)> {
        let path = engine.path_in(dir);
        let db = heal::open_healing(engine, &path, &options)?;
        let on_error = std::mem::replace(&mut options.on_error, Box::new(|_| {}));
        let shared = Arc::new(Shared {
            db: RwLock::new(db),
            buffer: Buffered::new(on_error),
            engine,
            path,
            options,
            heals: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            detached: std::sync::atomic::AtomicBool::new(false),
            reopened_ms: AtomicU64::new(0),
            opened: std::time::Instant::now(),
        });
        let writer = Writer::start(Arc::clone(&shared))
            .map_err(|error| EngineError::Failed(Box::new(error)))?;
        Ok((Database { shared }, writer))
    }

    /// Whether the file could not be opened again after an I/O error, and an empty
    /// stand-in serves meanwhile: what is removed now would come back with the file.
    pub(crate) fn is_detached(&self) -> bool {
        self.shared.detached.load(Ordering::Acquire)
    }

    /// A handle on one tree.
    pub(crate) fn tree(&self, table: Table) -> Tree {
        Tree {
            engine: self.clone(),
            table,
        }
    }

    /// Commits everything written so far, durably; fails if that commit failed or the
    /// writer did not finish in time.
    pub(crate) fn sync(&self) -> EngineResult<()> {
        self.shared.buffer.sync()
    }

    /// The bytes the database takes on disk: its files' allocated blocks, which can be
    /// fewer than their length, since engines grow files ahead of use.
    pub(crate) fn size_on_disk(&self) -> EngineResult<u64> {
        self.shared
            .engine
            .size_on_disk(&self.shared.path)
            .map_err(|error| EngineError::Failed(Box::new(error)))
    }

    /// Rewrites the database without its free room, if it takes over 8 MiB and more than
    /// half of it is free: each commit copies the pages it changes, so a burst of writes
    /// leaves room behind that only compaction gives back. Reads wait while it runs (about
    /// a second per 500 MB of file); returns whether it compacted.
    pub(crate) fn compact(&self) -> EngineResult<bool> {
        self.sync()?;
        let on_disk = self.size_on_disk()?;
        if on_disk < COMPACT_MIN_BYTES {
            return Ok(false);
        }
        let shared = &self.shared;
        contained(|| {
            let mut db = shared.db_mut();
            // No snapshot may be open: the shared one goes.
            shared.buffer.file_changed();
            db.compact(on_disk)
        })
    }
}

impl Shared {
    fn db(&self) -> RwLockReadGuard<'_, Box<dyn Backend>> {
        self.db.read().unwrap_or_else(|poison| poison.into_inner())
    }

    fn db_mut(&self) -> RwLockWriteGuard<'_, Box<dyn Backend>> {
        self.db.write().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Writes `batch` in one durable transaction.
    fn commit(&self, batch: &writer::Batch) -> EngineResult<()> {
        self.db().commit(batch)
    }

    /// Whether the file could not be opened again after an I/O error, so that what is
    /// committed goes to the empty stand-in serving meanwhile.
    pub(super) fn is_detached(&self) -> bool {
        self.detached.load(Ordering::Acquire)
    }
}

/// The view reads go through until the next commit.
pub(crate) type Snapshot = dyn View;

/// One tree of the database, with sled's shape of API: each write is atomic and seen at
/// once by every read.
#[derive(Clone)]
pub(crate) struct Tree {
    engine: Database,
    table: Table,
}

impl Tree {
    fn shared(&self) -> &Shared {
        &self.engine.shared
    }

    /// The value under `key`. A damaged file is replaced (if the engine heals) and the
    /// key looked up again in the fresh one.
    pub(crate) fn get(&self, key: impl AsRef<[u8]>) -> EngineResult<Option<Bytes>> {
        let key = key.as_ref();
        self.shared().healing(|| self.get_once(key))
    }

    fn get_once(&self, key: &[u8]) -> EngineResult<Option<Bytes>> {
        let shared = self.shared();
        // Held throughout: no snapshot is in use while the file is compacted.
        let db = shared.db();
        let (generation, snapshot) = match shared.buffer.find(self.table, key) {
            Found::Buffered(value) => return Ok(value),
            Found::InFile {
                generation,
                snapshot,
            } => (generation, snapshot),
        };
        contained(|| {
            let snapshot = match snapshot {
                Some(snapshot) => snapshot,
                None => {
                    let snapshot = db.snapshot()?;
                    shared.buffer.keep_snapshot(generation, &snapshot);
                    snapshot
                }
            };
            snapshot.get(self.table, key)
        })
    }

    /// Whether there is a value under `key`.
    pub(crate) fn contains_key(&self, key: impl AsRef<[u8]>) -> EngineResult<bool> {
        self.get(key).map(|value| value.is_some())
    }

    /// Sets the value under `key`.
    pub(crate) fn insert(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> EngineResult<()> {
        self.shared()
            .buffer
            .put(self.table, key.as_ref(), Some(Bytes::from(value.as_ref())));
        Ok(())
    }

    /// Removes the value under `key`, if any.
    pub(crate) fn remove(&self, key: impl AsRef<[u8]>) -> EngineResult<()> {
        self.shared().buffer.put(self.table, key.as_ref(), None);
        Ok(())
    }

    /// How many keys the tree holds.
    pub(crate) fn len(&self) -> EngineResult<u64> {
        self.engine.sync()?;
        self.shared()
            .healing(|| contained(|| self.shared().db().len(self.table)))
    }

    /// Removes every key, at once and durably.
    pub(crate) fn clear(&self) -> EngineResult<()> {
        self.engine.sync()?;
        self.shared().healing(|| {
            contained(|| {
                self.shared().db().clear(self.table)?;
                self.shared().buffer.file_changed();
                Ok(())
            })
        })
    }

    /// Whether the tree is empty: one key read, not a count (which is a walk over every
    /// key in some engines).
    pub(crate) fn is_empty(&self) -> EngineResult<bool> {
        self.engine.sync()?;
        self.shared().healing(|| {
            contained(|| {
                Ok(self
                    .shared()
                    .db()
                    .scan(self.table, &[], None, 1)?
                    .is_empty())
            })
        })
    }

    /// Every key and value, in key order.
    pub(crate) fn iter(&self) -> Scan {
        self.scan_prefix(&[])
    }

    /// Every key starting with `prefix` and its value, in key order.
    pub(crate) fn scan_prefix(&self, prefix: &[u8]) -> Scan {
        Scan {
            tree: self.clone(),
            prefix: prefix.into(),
            after: None,
            chunk: Vec::new().into_iter(),
            synced: false,
            done: false,
        }
    }
}

/// A scan over a tree, read in chunks so that no read transaction lives long.
pub(crate) struct Scan {
    tree: Tree,
    prefix: Box<[u8]>,
    /// The last key returned: the next chunk starts after it.
    after: Option<Bytes>,
    chunk: std::vec::IntoIter<(Bytes, Bytes)>,
    synced: bool,
    done: bool,
}

impl Scan {
    /// The keys alone.
    pub(crate) fn keys(self) -> impl Iterator<Item = EngineResult<Bytes>> {
        self.map(|item| item.map(|(key, _)| key))
    }

    /// The values alone.
    pub(crate) fn values(self) -> impl Iterator<Item = EngineResult<Bytes>> {
        self.map(|item| item.map(|(_, value)| value))
    }

    fn next_chunk(&mut self) -> EngineResult<()> {
        if !self.synced {
            self.tree.engine.sync()?;
            self.synced = true;
        }
        let db = self.tree.shared().db();
        let items = db.scan(
            self.tree.table,
            &self.prefix,
            self.after.as_deref(),
            SCAN_CHUNK,
        )?;
        self.done = items.len() < SCAN_CHUNK;
        self.after = items.last().map(|(key, _)| Bytes::clone(key));
        self.chunk = items.into_iter();
        Ok(())
    }
}

impl Iterator for Scan {
    type Item = EngineResult<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.chunk.next() {
                return Some(Ok(item));
            }
            if self.done {
                return None;
            }
            let seen = self.tree.shared().generation.load(Ordering::Acquire);
            if let Err(error) = contained(|| self.next_chunk()) {
                // The scan ends with the damage it met; the next one reads a fresh file.
                self.tree.shared().recover(seen, &error);
                self.done = true;
                return Some(Err(error));
            }
        }
    }
}
