//! Entry points for fuzzing the decoders of data read from disk. Not a public API.

use std::io::Cursor;

use crate::store::{EntryRecord, decode_exact};
use crate::{FunctionRecord, Store};

/// Decodes `bytes` as every record the store reads back, as a hit would and as a listing
/// would. Must never panic, whatever the bytes.
pub fn decode_records(bytes: &[u8]) {
    let _ = crate::store::read_entry_head(bytes);
    let _ = EntryRecord::decode(bytes);
    let _ = decode_exact::<FunctionRecord>(bytes);
}

/// Imports `bytes` as an archive into `store`. Must never panic, and a damaged archive must
/// change nothing.
pub fn import_archive(store: &Store, bytes: &[u8]) -> bool {
    store
        .import_trusting(Cursor::new(bytes), &mut |_, _| {})
        .is_ok()
}
