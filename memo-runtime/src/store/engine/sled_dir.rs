//! The sled engine: a sled 0.34 database, the directory `store.sled`, a sled tree per
//! table. A commit is one transaction across the trees, flushed to disk before it
//! returns. sled reads are always current, so a snapshot is the trees themselves.
//! Compacting copies the live keys into a fresh directory that takes the old one's place:
//! sled cleans its segments as it goes, but never gives a large store's room back.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sled::Transactional;

use super::backend::{Backend, View};
use super::writer::Batch;
use super::{Bytes, EngineError, EngineResult, Table};

/// What sled's error means to the store.
fn failed(error: sled::Error) -> EngineError {
    match error {
        // sled's one-process lock on its `db` file.
        sled::Error::Io(error) if error.to_string().contains("could not acquire lock") => {
            EngineError::Locked
        }
        // A log the database's own pointers place past its end: it was cut short.
        sled::Error::Io(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            EngineError::Corrupt(format!("the log is shorter than its contents ({error})"))
        }
        // After an I/O error (a full disk) sled keeps failing until it is opened again.
        sled::Error::Io(error) => EngineError::Refusing(Box::new(error)),
        sled::Error::Corruption { at, .. } => EngineError::Corrupt(match at {
            Some(at) => format!("sled found a damaged log at {at:?}"),
            None => "sled found a damaged log".into(),
        }),
        // What sled reports as its own bug, or as a database it does not support, is in a
        // store a damaged file it tripped on.
        sled::Error::ReportableBug(detail) | sled::Error::Unsupported(detail) => {
            EngineError::Corrupt(detail)
        }
        other => EngineError::Failed(Box::new(other)),
    }
}

/// An open sled database.
pub(crate) struct SledDir {
    db: sled::Db,
    /// A tree per table, in [`Table::ALL`]'s order.
    trees: Arc<[sled::Tree]>,
    path: PathBuf,
    cache_bytes: u64,
}

impl SledDir {
    /// Opens (creating if needed) the database at `path`, with a tree per table; a new
    /// one gets `seed`.
    pub(crate) fn open(
        path: &Path,
        cache_bytes: u64,
        seed: &[(Table, Vec<u8>, Vec<u8>)],
    ) -> EngineResult<SledDir> {
        // Created owner-only here (sled would create it under the umask), and what sled
        // left in it made so.
        crate::store::private::create_dir(path)
            .map_err(|error| super::EngineError::Failed(Box::new(error)))?;
        let (db, trees) = open_trees(path, cache_bytes)?;
        if let Ok(files) = std::fs::read_dir(path) {
            for file in files.flatten() {
                crate::store::private::tighten(&file.path());
            }
        }
        let dir = SledDir {
            db,
            trees,
            path: path.to_owned(),
            cache_bytes,
        };
        if !dir.db.was_recovered() && !seed.is_empty() {
            let mut batch = Batch::default();
            for (table, key, value) in seed {
                batch.put(*table, key, Some(Bytes::from(&value[..])));
            }
            dir.commit(&batch)?;
        }
        Ok(dir)
    }

    fn tree(&self, table: Table) -> &sled::Tree {
        &self.trees[table.index()]
    }

    /// The bytes of every key and value.
    fn live_bytes(&self) -> EngineResult<u64> {
        let mut live = 0;
        for tree in self.trees.iter() {
            for item in tree.iter() {
                let (key, value) = item.map_err(failed)?;
                live += (key.len() + value.len()) as u64;
            }
        }
        Ok(live)
    }

    /// Copies every tree into a fresh database at `to`, durably.
    fn copy_to(&self, to: &Path) -> EngineResult<()> {
        let (fresh, trees) = open_trees(to, self.cache_bytes)?;
        for (from, into) in self.trees.iter().zip(trees.iter()) {
            let mut batch = sled::Batch::default();
            let mut queued = 0;
            for item in from.iter() {
                let (key, value) = item.map_err(failed)?;
                batch.insert(key, value);
                queued += 1;
                if queued == 10_000 {
                    into.apply_batch(std::mem::take(&mut batch))
                        .map_err(failed)?;
                    queued = 0;
                }
            }
            into.apply_batch(batch).map_err(failed)?;
        }
        fresh.flush().map_err(failed)?;
        Ok(())
    }
}

fn open_trees(path: &Path, cache_bytes: u64) -> EngineResult<(sled::Db, Arc<[sled::Tree]>)> {
    let db = sled::Config::new()
        .path(path)
        // sled refuses a cache smaller than this.
        .cache_capacity(cache_bytes.max(256))
        // Every commit flushes; sled's own flusher thread would only hold the database
        // (and its lock) open for a while after it is closed.
        .flush_every_ms(None)
        .open()
        .map_err(failed)?;
    let trees = Table::ALL
        .iter()
        .map(|table| db.open_tree(table.name()))
        .collect::<Result<Arc<[_]>, _>>()
        .map_err(failed)?;
    Ok((db, trees))
}

/// Removes the directory at `path` if it is there.
fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Reads of the trees as they are: sled has no snapshots, and needs none here — what is
/// not committed yet is in the buffer above.
struct Trees(Arc<[sled::Tree]>);

impl View for Trees {
    fn get(&self, table: Table, key: &[u8]) -> EngineResult<Option<Bytes>> {
        Ok(self.0[table.index()]
            .get(key)
            .map_err(failed)?
            .map(|value| Bytes::from(&value[..])))
    }
}

impl Backend for SledDir {
    fn snapshot(&self) -> EngineResult<Arc<dyn View>> {
        Ok(Arc::new(Trees(Arc::clone(&self.trees))))
    }

    fn commit(&self, batch: &Batch) -> EngineResult<()> {
        let batches: Vec<(usize, sled::Batch)> = Table::ALL
            .iter()
            .filter(|table| !batch.ops(**table).is_empty())
            .map(|table| {
                let mut writes = sled::Batch::default();
                for (key, value) in batch.ops(*table) {
                    match value {
                        Some(value) => writes.insert(&**key, &**value),
                        None => writes.remove(&**key),
                    }
                }
                (table.index(), writes)
            })
            .collect();
        if batches.is_empty() {
            return Ok(());
        }
        self.trees[..]
            .transaction(|trees| {
                for (index, writes) in &batches {
                    trees[*index].apply_batch(writes)?;
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|error| match error {
                sled::transaction::TransactionError::Storage(error) => failed(error),
                sled::transaction::TransactionError::Abort(()) => {
                    EngineError::Failed("the commit was aborted".into())
                }
            })?;
        self.db.flush().map_err(failed)?;
        Ok(())
    }

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> EngineResult<Vec<(Bytes, Bytes)>> {
        let start = match after {
            Some(after) => Bound::Excluded(after),
            None => Bound::Included(prefix),
        };
        let mut items = Vec::with_capacity(limit.min(1024));
        for item in self
            .tree(table)
            .range::<&[u8], _>((start, Bound::Unbounded))
        {
            let (key, value) = item.map_err(failed)?;
            if !key.starts_with(prefix) || items.len() == limit {
                break;
            }
            items.push((Bytes::from(&key[..]), Bytes::from(&value[..])));
        }
        Ok(items)
    }

    fn len(&self, table: Table) -> EngineResult<u64> {
        Ok(self.tree(table).len() as u64)
    }

    fn clear(&self, table: Table) -> EngineResult<()> {
        self.tree(table).clear().map_err(failed)?;
        self.db.flush().map_err(failed)?;
        Ok(())
    }

    fn compact(&mut self, on_disk: u64) -> EngineResult<bool> {
        if on_disk <= 2 * self.live_bytes()? {
            return Ok(false);
        }
        let io = |error: std::io::Error| EngineError::Failed(Box::new(error));
        let fresh = self.path.with_extension("sled.compacting");
        let old = self.path.with_extension("sled.old");
        remove(&fresh).map_err(io)?;
        if let Err(error) = self.copy_to(&fresh) {
            let _ = remove(&fresh);
            return Err(error);
        }
        // The old database must be closed — its files and its lock let go of — before
        // the fresh one takes its name: a stand-in in memory holds the place meanwhile.
        let stand_in = sled::Config::new().temporary(true).open().map_err(failed)?;
        let stand_in_trees = Table::ALL
            .iter()
            .map(|table| stand_in.open_tree(table.name()))
            .collect::<Result<Arc<[_]>, _>>()
            .map_err(failed)?;
        drop(std::mem::replace(&mut self.trees, stand_in_trees));
        drop(std::mem::replace(&mut self.db, stand_in));
        let swapped = remove(&old)
            .and_then(|()| std::fs::rename(&self.path, &old))
            .and_then(|()| {
                std::fs::rename(&fresh, &self.path).inspect_err(|_| {
                    // The old one goes back: the path is never left without a database.
                    let _ = std::fs::rename(&old, &self.path);
                })
            });
        // The fresh copy, or where it could not take the old one's place, the old one.
        let (db, trees) = open_trees(&self.path, self.cache_bytes)?;
        self.db = db;
        self.trees = trees;
        let _ = remove(&old);
        let _ = remove(&fresh);
        swapped.map(|()| true).map_err(io)
    }
}
