//! Direct access to the trees of a closed store, for tests that damage a store on purpose
//! to show that memo survives it. Not a public API.

use std::path::Path;

use redb::{ReadableDatabase, TableDefinition};

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The CBOR of a stored result that postcard could not describe, without the marker that
/// says so; `None` for a result stored as postcard. `memo get` renders it.
pub fn cbor_payload(bytes: &[u8]) -> Option<&[u8]> {
    crate::call::codec::cbor_payload(bytes)
}

/// A closed store's database, opened without memo's checks or buffering.
pub struct RawStore {
    db: redb::Database,
}

fn table(name: &str) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
    TableDefinition::new(name)
}

impl RawStore {
    /// Opens the database of the store in `dir`, which no `Store` may have open.
    pub fn open(dir: &Path) -> Result<RawStore, Failure> {
        let db = redb::Database::create(dir.join(crate::store::ENGINE_FILE))?;
        Ok(RawStore { db })
    }

    /// Every key of tree `name`, in order.
    pub fn keys(&self, name: &str) -> Result<Vec<Vec<u8>>, Failure> {
        let txn = self.db.begin_read()?;
        let tree = txn.open_table(table(name))?;
        let mut keys = Vec::new();
        for item in tree.range::<&[u8]>(..)? {
            keys.push(item?.0.value().to_vec());
        }
        Ok(keys)
    }

    /// The value under `key` in tree `name`.
    pub fn get(&self, name: &str, key: &[u8]) -> Result<Option<Vec<u8>>, Failure> {
        let txn = self.db.begin_read()?;
        let tree = txn.open_table(table(name))?;
        Ok(tree.get(key)?.map(|value| value.value().to_vec()))
    }

    /// Sets the value under `key` in tree `name`, durably.
    pub fn insert(&self, name: &str, key: &[u8], value: &[u8]) -> Result<(), Failure> {
        let txn = self.db.begin_write()?;
        txn.open_table(table(name))?.insert(key, value)?;
        txn.commit()?;
        Ok(())
    }
}
