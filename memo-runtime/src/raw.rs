//! Direct access to the trees of a closed store, for tests that damage a store on purpose
//! to show that memo survives it. Not a public API.

use std::path::Path;

use crate::store::Raw;

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The CBOR of a stored result that postcard could not describe, without the marker that
/// says so; `None` for a result stored as postcard. `memo get` renders it.
pub fn cbor_payload(bytes: &[u8]) -> Option<&[u8]> {
    crate::call::codec::cbor_payload(bytes)
}

/// A closed store's database, opened with the engine that wrote it, without memo's checks
/// or buffering.
pub struct RawStore {
    db: Raw,
}

impl RawStore {
    /// Opens the database of the store in `dir`, which no `Store` may have open.
    pub fn open(dir: &Path) -> Result<RawStore, Failure> {
        Ok(RawStore {
            db: Raw::open(dir)?,
        })
    }

    /// Every key of tree `name`, in order.
    pub fn keys(&self, name: &str) -> Result<Vec<Vec<u8>>, Failure> {
        Ok(self.db.keys(name)?.iter().map(|key| key.to_vec()).collect())
    }

    /// The value under `key` in tree `name`.
    pub fn get(&self, name: &str, key: &[u8]) -> Result<Option<Vec<u8>>, Failure> {
        Ok(self.db.get(name, key)?.map(|value| value.to_vec()))
    }

    /// Sets the value under `key` in tree `name`, durably.
    pub fn insert(&self, name: &str, key: &[u8], value: &[u8]) -> Result<(), Failure> {
        Ok(self.db.insert(name, key, value)?)
    }
}
