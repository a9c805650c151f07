//! The sled engine: a sled 0.34 database, the directory `store.sled`, a sled tree per
//! table. A commit is one transaction across the trees, flushed to disk before it
//! returns. sled reads are always current, so a snapshot is the trees themselves; sled
//! cleans its own segments, so there is nothing to compact by hand.

use std::ops::Bound;
use std::path::Path;
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
        // After an I/O error (a full disk) sled keeps failing until it is opened again.
        sled::Error::Io(error) => EngineError::Refusing(Box::new(error)),
        sled::Error::Corruption { at, .. } => EngineError::Corrupt(match at {
            Some(at) => format!("sled found a damaged log at {at:?}"),
            None => "sled found a damaged log".into(),
        }),
        // What sled reports as its own bug is, in a store, a damaged file it tripped on.
        sled::Error::ReportableBug(detail) => EngineError::Corrupt(detail),
        other => EngineError::Failed(Box::new(other)),
    }
}

/// An open sled database.
pub(crate) struct SledDir {
    db: sled::Db,
    /// A tree per table, in [`Table::ALL`]'s order.
    trees: Arc<[sled::Tree]>,
}

impl SledDir {
    /// Opens (creating if needed) the database at `path`, with a tree per table; a new
    /// one gets `seed`.
    pub(crate) fn open(
        path: &Path,
        cache_bytes: u64,
        seed: &[(Table, Vec<u8>, Vec<u8>)],
    ) -> EngineResult<SledDir> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(failed)?;
        let trees = Table::ALL
            .iter()
            .map(|table| db.open_tree(table.name()))
            .collect::<Result<Arc<[_]>, _>>()
            .map_err(failed)?;
        let dir = SledDir { db, trees };
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

    fn compact(&mut self, _on_disk: u64) -> EngineResult<bool> {
        Ok(false)
    }
}
