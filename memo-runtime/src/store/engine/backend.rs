//! The seam between the store and a storage engine: what an engine does with its file —
//! point reads through a snapshot, ordered scans, one atomic durable commit of a batch,
//! counts, clearing, compaction and its size on disk. Everything above it (the write
//! buffer and its writer, healing, records, serving, gc, verify, archives, the CLI) is the
//! same for every engine.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::writer::Batch;
use super::{Bytes, EngineResult, Table};

/// One open database: what an engine implements.
pub(crate) trait Backend: Send + Sync {
    /// A view of every table as of now, for point reads; it is used until the next
    /// commit.
    fn snapshot(&self) -> EngineResult<Arc<dyn View>>;

    /// Writes every table's changes in `batch` (`None` removes), atomically and durably.
    fn commit(&self, batch: &Batch) -> EngineResult<()>;

    /// Up to `limit` keys of `table` that start with `prefix`, after `after` if given,
    /// with their values, in key order.
    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> EngineResult<Vec<(Bytes, Bytes)>>;

    /// How many keys `table` holds.
    fn len(&self, table: Table) -> EngineResult<u64>;

    /// Removes every key of `table`, at once and durably.
    fn clear(&self, table: Table) -> EngineResult<()>;

    /// Rewrites the database without its free room, if more than half of the `on_disk`
    /// bytes it takes are free; whether it did. No snapshot may be alive.
    fn compact(&mut self, on_disk: u64) -> EngineResult<bool>;
}

/// A consistent view of the tables for point reads.
pub(crate) trait View: Send + Sync {
    /// The value under `key` in `table`.
    fn get(&self, table: Table, key: &[u8]) -> EngineResult<Option<Bytes>>;
}

/// The storage engine a store is kept in.
///
/// redb is the default: it opens in constant time and keeps at most its cache in memory
/// (BENCHMARKS.md has both engines' figures). sled needs the `sled` feature.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let store = memo::Store::builder(dir.path())
///     .engine(memo::Engine::Redb)
///     .open()
///     .unwrap();
/// assert_eq!(store.engine(), memo::Engine::Redb);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Engine {
    /// One redb file, `store.redb`.
    Redb,
    /// A sled database, the directory `store.sled` (the `sled` feature).
    Sled,
}

impl Engine {
    /// Every engine, compiled in or not.
    pub(crate) const ALL: [Engine; 2] = [Engine::Redb, Engine::Sled];

    /// The engine's name, as `MEMO_ENGINE` takes it.
    ///
    /// ```
    /// assert_eq!(memo::Engine::Sled.name(), "sled");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Engine::Redb => "redb",
            Engine::Sled => "sled",
        }
    }

    /// The engine named `name` (`redb` or `sled`, any case), if there is one.
    ///
    /// ```
    /// assert_eq!(memo::Engine::from_name("SLED"), Some(memo::Engine::Sled));
    /// assert_eq!(memo::Engine::from_name("lmdb"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Engine> {
        Engine::ALL
            .into_iter()
            .find(|engine| engine.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Whether this build can open stores of this engine.
    ///
    /// ```
    /// assert!(memo::Engine::Redb.is_available());
    /// ```
    pub fn is_available(self) -> bool {
        match self {
            Engine::Redb => true,
            Engine::Sled => cfg!(feature = "sled"),
        }
    }

    /// What the engine keeps in a store directory: a file (redb) or a directory (sled).
    pub(crate) fn file_name(self) -> &'static str {
        match self {
            Engine::Redb => "store.redb",
            Engine::Sled => "store.sled",
        }
    }

    /// Where a damaged database is moved aside to, beside the store's.
    pub(crate) fn damaged_name(self) -> &'static str {
        match self {
            Engine::Redb => "store.redb.damaged",
            Engine::Sled => "store.sled.damaged",
        }
    }

    /// The engine's database in the store directory `dir`.
    pub(crate) fn path_in(self, dir: &Path) -> PathBuf {
        dir.join(self.file_name())
    }

    /// The engine whose database is in `dir`, if one is: a store directory records which
    /// engine wrote it by the database it holds.
    pub(crate) fn found_in(dir: &Path) -> Option<Engine> {
        Engine::ALL
            .into_iter()
            .find(|engine| engine.path_in(dir).exists())
    }

    /// Opens (creating if needed) the database at `path`, with every table; a new one
    /// gets `seed`.
    pub(crate) fn open(
        self,
        path: &Path,
        cache_bytes: u64,
        seed: &[(Table, Vec<u8>, Vec<u8>)],
    ) -> EngineResult<Box<dyn Backend>> {
        match self {
            Engine::Redb => Ok(Box::new(super::redb_file::RedbFile::open(
                path,
                cache_bytes,
                seed,
            )?)),
            #[cfg(feature = "sled")]
            Engine::Sled => Ok(Box::new(super::sled_dir::SledDir::open(
                path,
                cache_bytes,
                seed,
            )?)),
            #[cfg(not(feature = "sled"))]
            Engine::Sled => Err(super::EngineError::Failed(
                "this build has no sled engine: enable memo's `sled` feature".into(),
            )),
        }
    }

    /// The bytes the database at `path` takes on disk.
    pub(crate) fn size_on_disk(self, path: &Path) -> std::io::Result<u64> {
        match self {
            Engine::Redb => file_blocks(path),
            Engine::Sled => {
                let mut total = 0;
                for entry in walk(path)? {
                    total += file_blocks(&entry)?;
                }
                Ok(total)
            }
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The bytes a file takes: its allocated blocks, which can be fewer than its length,
/// since engines grow files ahead of use.
fn file_blocks(path: &Path) -> std::io::Result<u64> {
    let meta = std::fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok((meta.blocks() * 512).min(meta.len()))
    }
    #[cfg(not(unix))]
    Ok(meta.len())
}

/// Every file under `dir`.
fn walk(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                dirs.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    Ok(files)
}
