//! The redb engine: one file, `store.redb`, a redb table per tree. Reads share one read
//! transaction with every table open until the next commit; a commit is one durable
//! transaction that also saves the allocator state, so opening after a crash is quick.

use std::path::Path;
use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};

use super::backend::{Backend, View};
use super::writer::Batch;
use super::{Bytes, EngineError, EngineResult, Table};

fn definition(table: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(table.name())
}

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
            previous @ redb::Error::PreviousIo => EngineError::Refusing(Box::new(previous)),
            other => EngineError::Failed(Box::new(other)),
        }
    }
}

/// An open redb file.
pub(crate) struct RedbFile {
    db: redb::Database,
}

impl RedbFile {
    /// Opens (creating if needed) the file at `path`. Every table exists from the start,
    /// so reads never meet a missing one; only a new file needs the (durable, so slower)
    /// transaction that creates them, which also writes its seed.
    pub(crate) fn open(
        path: &Path,
        cache_bytes: u64,
        seed: &[(Table, Vec<u8>, Vec<u8>)],
    ) -> EngineResult<RedbFile> {
        // Opened here, owner-only and never through a symlink; redb takes the file.
        let file = crate::store::private::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|error| EngineError::Failed(Box::new(error)))?;
        crate::store::private::tighten(path);
        let db = redb::Database::builder()
            .set_cache_size(usize::try_from(cache_bytes).unwrap_or(usize::MAX))
            .create_file(file)?;
        let file = RedbFile { db };
        file.create_tables(seed)?;
        Ok(file)
    }

    /// An empty database in memory: what stands in for a file that cannot be opened.
    pub(crate) fn in_memory() -> EngineResult<RedbFile> {
        let db =
            redb::Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?;
        let file = RedbFile { db };
        file.create_tables(&[])?;
        Ok(file)
    }

    fn create_tables(&self, seed: &[(Table, Vec<u8>, Vec<u8>)]) -> EngineResult<()> {
        let read = self.db.begin_read()?;
        let missing = Table::ALL
            .into_iter()
            .filter(|table| read.open_table(definition(*table)).is_err())
            .count();
        drop(read);
        if missing == 0 {
            return Ok(());
        }
        let mut txn = self.db.begin_write()?;
        txn.set_quick_repair(true);
        for table in Table::ALL {
            txn.open_table(definition(table))?;
        }
        // Only a file that had none of the tables is new: one that lost some is not
        // stamped as sound.
        if missing == Table::ALL.len() {
            for (table, key, value) in seed {
                txn.open_table(definition(*table))?
                    .insert(&key[..], &value[..])?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn read_table(&self, table: Table) -> EngineResult<ReadTable> {
        Ok(self.db.begin_read()?.open_table(definition(table))?)
    }
}

type ReadTable = redb::ReadOnlyTable<&'static [u8], &'static [u8]>;

/// Every table, open in one read transaction, which lives as long as this does.
struct Snapshot {
    tables: Vec<ReadTable>,
}

impl View for Snapshot {
    fn get(&self, table: Table, key: &[u8]) -> EngineResult<Option<Bytes>> {
        Ok(self.tables[table.index()]
            .get(key)?
            .map(|guard| Bytes::from(guard.value())))
    }
}

impl Backend for RedbFile {
    fn snapshot(&self) -> EngineResult<Arc<dyn View>> {
        let txn = self.db.begin_read()?;
        let tables = Table::ALL
            .iter()
            .map(|table| txn.open_table(definition(*table)))
            .collect::<Result<_, _>>()?;
        Ok(Arc::new(Snapshot { tables }))
    }

    fn commit(&self, batch: &Batch) -> EngineResult<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(redb::Durability::Immediate)?;
        // Saving the allocator state with each commit makes opening after a crash quick
        // rather than a walk over the whole file.
        txn.set_quick_repair(true);
        for table in Table::ALL {
            let ops = batch.ops(table);
            if ops.is_empty() {
                continue;
            }
            let mut open = txn.open_table(definition(table))?;
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

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> EngineResult<Vec<(Bytes, Bytes)>> {
        let table = self.read_table(table)?;
        let start = after.unwrap_or(prefix);
        let mut items = Vec::with_capacity(limit.min(1024));
        for item in table.range(start..)? {
            let (key, value) = item?;
            let key = key.value();
            if after == Some(key) {
                continue;
            }
            if !key.starts_with(prefix) || items.len() == limit {
                break;
            }
            items.push((Bytes::from(key), Bytes::from(value.value())));
        }
        Ok(items)
    }

    fn len(&self, table: Table) -> EngineResult<u64> {
        Ok(self.read_table(table)?.len()?)
    }

    fn clear(&self, table: Table) -> EngineResult<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_quick_repair(true);
        txn.delete_table(definition(table))?;
        txn.open_table(definition(table))?;
        txn.commit()?;
        Ok(())
    }

    fn compact(&mut self, on_disk: u64) -> EngineResult<bool> {
        let live = {
            let txn = self.db.begin_write()?;
            let stats = txn.stats()?;
            txn.abort()?;
            (stats.leaf_pages() + stats.branch_pages()) * stats.page_size() as u64
        };
        if on_disk <= 2 * live {
            return Ok(false);
        }
        self.db
            .compact()
            .map_err(|error| EngineError::Failed(Box::new(error)))?;
        // Compaction's own commits do not save the allocator state; one that does keeps
        // the next open quick even if this process never closes the file (a store in a
        // static is never dropped).
        let mut txn = self.db.begin_write()?;
        txn.set_quick_repair(true);
        txn.commit()?;
        Ok(true)
    }
}
