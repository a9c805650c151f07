//! The storage engine under the store: named trees of bytes in one redb file, with writes
//! buffered in memory and committed by a background writer.
//!
//! A write returns once it is in the buffer, and every read sees it from then on; the
//! writer commits whatever has gathered in one durable transaction, so a burst of misses
//! costs one commit, not one each. Scans first wait for the buffer to be committed, then
//! read the file. redb opens in constant time and keeps at most its configured cache in
//! memory, whatever the number of entries.

mod heal;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};

pub(crate) use heal::{DAMAGED_FILE, Healed};
use writer::Found;
pub(crate) use writer::{Buffered, Writer};

/// The bytes of a key or a value.
pub(crate) type Bytes = Arc<[u8]>;

/// The name of the database file inside a store directory.
pub(crate) const FILE: &str = "store.redb";

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
}

impl Table {
    pub(crate) const ALL: [Table; 6] = [
        Table::Entries,
        Table::Blobs,
        Table::Tags,
        Table::Functions,
        Table::Lineage,
        Table::Meta,
    ];

    fn index(self) -> usize {
        self as usize
    }

    fn definition(self) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
        TableDefinition::new(match self {
            Table::Entries => "entries",
            Table::Blobs => "blobs",
            Table::Tags => "tags",
            Table::Functions => "functions",
            Table::Lineage => "lineage",
            Table::Meta => "meta",
        })
    }
}

/// Why the engine failed.
#[derive(Debug)]
pub(crate) enum EngineError {
    /// Another handle (in this process or another) has the file open.
    Locked,
    /// The file is damaged.
    Corrupt(String),
    /// Anything else, with what the engine said.
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::Locked => f.write_str("the database is open elsewhere"),
            EngineError::Corrupt(detail) => write!(f, "the database is damaged: {detail}"),
            EngineError::Failed(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for EngineError {}

impl<E: Into<redb::Error>> From<E> for EngineError {
    fn from(error: E) -> EngineError {
        match error.into() {
            redb::Error::DatabaseAlreadyOpen => EngineError::Locked,
            redb::Error::Corrupted(detail) => EngineError::Corrupt(detail),
            // A page the file's own pointers place past its end: the file was cut short.
            redb::Error::Io(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
                EngineError::Corrupt(format!("the file is shorter than its contents ({error})"))
            }
            // What redb says of a header it cannot read ("Not a redb database").
            redb::Error::Io(error) if error.kind() == std::io::ErrorKind::InvalidData => {
                EngineError::Corrupt(error.to_string())
            }
            other => EngineError::Failed(Box::new(other)),
        }
    }
}

impl EngineError {
    /// Whether the file is damaged, rather than unreachable or its disk full.
    pub(crate) fn is_damage(&self) -> bool {
        matches!(self, EngineError::Corrupt(_))
    }

    /// Whether redb refuses all work since an earlier I/O error (a disk that was full)
    /// until the file is opened again.
    fn is_poisoned(&self) -> bool {
        matches!(self, EngineError::Failed(error)
            if matches!(error.downcast_ref::<redb::Error>(), Some(redb::Error::PreviousIo)))
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
pub(crate) struct Engine {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    /// Read-locked by every use of the database, write-locked to compact it or to replace
    /// it: either needs the file to itself.
    db: RwLock<redb::Database>,
    buffer: Buffered,
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

impl Engine {
    /// Opens (creating if needed) the database file at `path` and starts its writer. A
    /// file found damaged is moved aside and replaced, if `options` say so.
    pub(crate) fn open(path: &Path, mut options: Options) -> EngineResult<(Engine, Writer)> {
        let db = heal::open_healing(path, &options)?;
        let on_error = std::mem::replace(&mut options.on_error, Box::new(|_| {}));
        let shared = Arc::new(Shared {
            db: RwLock::new(db),
            buffer: Buffered::new(on_error),
            path: path.to_owned(),
            options,
            heals: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            detached: std::sync::atomic::AtomicBool::new(false),
            reopened_ms: AtomicU64::new(0),
            opened: std::time::Instant::now(),
        });
        let writer = Writer::start(Arc::clone(&shared))
            .map_err(|error| EngineError::Failed(Box::new(error)))?;
        Ok((Engine { shared }, writer))
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

    /// The bytes the database file takes on disk: its allocated blocks, which can be fewer
    /// than its length, since redb grows the file ahead of use.
    pub(crate) fn size_on_disk(&self, path: &Path) -> EngineResult<u64> {
        let meta = std::fs::metadata(path).map_err(|error| EngineError::Failed(Box::new(error)))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Ok((meta.blocks() * 512).min(meta.len()))
        }
        #[cfg(not(unix))]
        Ok(meta.len())
    }

    /// Rewrites the database file `path` without its free pages, if it is over 8 MiB and
    /// more than half of it is free: each commit copies the pages it changes, so a burst
    /// of writes leaves room behind that only compaction gives back. Reads wait while it
    /// runs (about a second per 500 MB of file); returns whether it compacted.
    pub(crate) fn compact(&self, path: &Path) -> EngineResult<bool> {
        self.sync()?;
        let file = self.size_on_disk(path)?;
        if file < COMPACT_MIN_BYTES {
            return Ok(false);
        }
        let shared = &self.shared;
        contained(|| {
            let mut db = shared
                .db
                .write()
                .unwrap_or_else(|poison| poison.into_inner());
            let live = {
                let txn = db.begin_write()?;
                let stats = txn.stats()?;
                txn.abort()?;
                (stats.leaf_pages() + stats.branch_pages()) * stats.page_size() as u64
            };
            if file <= 2 * live {
                return Ok(false);
            }
            // No read transaction may be open: drop the shared snapshot.
            shared.buffer.file_changed();
            db.compact()
                .map_err(|error| EngineError::Failed(Box::new(error)))?;
            // Compaction's own commits do not save the allocator state; one that does keeps
            // the next open quick even if this process never closes the file (a store in a
            // static is never dropped).
            let mut txn = db.begin_write()?;
            txn.set_quick_repair(true);
            txn.commit()?;
            Ok(true)
        })
    }
}

impl Shared {
    fn db(&self) -> RwLockReadGuard<'_, redb::Database> {
        self.db.read().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Writes `batch` in one durable transaction.
    fn commit(&self, batch: &writer::Batch) -> EngineResult<()> {
        let db = self.db();
        let mut txn = db.begin_write()?;
        txn.set_durability(redb::Durability::Immediate)?;
        // Saving the allocator state with each commit makes opening after a crash quick
        // rather than a walk over the whole file.
        txn.set_quick_repair(true);
        for table in Table::ALL {
            let ops = batch.ops(table);
            if ops.is_empty() {
                continue;
            }
            let mut open = txn.open_table(table.definition())?;
            for (key, value) in ops {
                match value {
                    Some(value) => drop(open.insert(&**key, &**value)?),
                    None => drop(open.remove(&**key)?),
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// `table` in a new read transaction of `db`, which must stay locked while it lives.
    fn read_table(db: &redb::Database, table: Table) -> EngineResult<ReadTable> {
        Ok(db.begin_read()?.open_table(table.definition())?)
    }
}

type ReadTable = redb::ReadOnlyTable<&'static [u8], &'static [u8]>;

/// Every table, open in one read transaction, which lives as long as this does.
pub(crate) struct Snapshot {
    tables: Vec<ReadTable>,
}

impl Snapshot {
    fn take(db: &redb::Database) -> EngineResult<Snapshot> {
        let txn = db.begin_read()?;
        let tables = Table::ALL
            .iter()
            .map(|table| txn.open_table(table.definition()))
            .collect::<Result<_, _>>()?;
        Ok(Snapshot { tables })
    }

    fn get(&self, table: Table, key: &[u8]) -> EngineResult<Option<Bytes>> {
        Ok(self.tables[table.index()]
            .get(key)?
            .map(|guard| Bytes::from(guard.value())))
    }
}

/// One tree of the database, with sled's shape of API: each write is atomic and seen at
/// once by every read.
#[derive(Clone)]
pub(crate) struct Tree {
    engine: Engine,
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
                    let snapshot = Arc::new(Snapshot::take(&db)?);
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
        self.shared().healing(|| {
            contained(|| {
                let db = self.shared().db();
                Ok(Shared::read_table(&db, self.table)?.len()?)
            })
        })
    }

    /// Removes every key, at once and durably.
    pub(crate) fn clear(&self) -> EngineResult<()> {
        self.engine.sync()?;
        self.shared().healing(|| {
            contained(|| {
                let db = self.shared().db();
                let mut txn = db.begin_write()?;
                txn.set_quick_repair(true);
                txn.delete_table(self.table.definition())?;
                txn.open_table(self.table.definition())?;
                txn.commit()?;
                self.shared().buffer.file_changed();
                Ok(())
            })
        })
    }

    /// Whether the tree is empty.
    pub(crate) fn is_empty(&self) -> EngineResult<bool> {
        self.len().map(|len| len == 0)
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
        let table = Shared::read_table(&db, self.tree.table)?;
        let start: &[u8] = self.after.as_deref().unwrap_or(&self.prefix);
        let mut items = Vec::with_capacity(SCAN_CHUNK);
        for item in table.range(start..)? {
            let (key, value) = item?;
            let key = key.value();
            if self.after.as_deref() == Some(key) {
                continue;
            }
            if !key.starts_with(&self.prefix) || items.len() == SCAN_CHUNK {
                break;
            }
            items.push((Bytes::from(key), Bytes::from(value.value())));
        }
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
