//! Every decoder of data read from disk, on arbitrary bytes: entry records and their head,
//! function records, and archives. None may panic.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use memo_runtime::Store;
use memo_runtime::fuzz::{decode_records, import_archive};

fuzz_target!(|bytes: &[u8]| {
    decode_records(bytes);
    static STORE: OnceLock<Store> = OnceLock::new();
    let store = STORE.get_or_init(|| Store::temporary().expect("a temporary store"));
    import_archive(store, bytes);
});
