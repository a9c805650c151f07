//! The decoders of data read from disk never panic, whatever the bytes: records, entry
//! heads, function records and archives. The same entry points run under `cargo fuzz`
//! (see `fuzz/`); these properties run in CI.

mod support;

use std::sync::OnceLock;

use memo_runtime::Store;
use memo_runtime::fuzz::{decode_records, import_archive};
use proptest::prelude::*;
use support::{Runs, square};

/// A real entry record and function record, as the store writes them.
fn samples() -> &'static (Vec<u8>, Vec<u8>) {
    static SAMPLES: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            square(&store, site!("decoders::square"), 12, &Runs::default());
        }
        let db = memo_runtime::raw::RawStore::open(dir.path()).unwrap();
        let first = |tree: &str| {
            let key = db.keys(tree).unwrap().remove(0);
            db.get(tree, &key).unwrap().unwrap()
        };
        (first("entries"), first("functions"))
    })
}

/// A real archive of a store with a small and a large result.
fn archive() -> &'static Vec<u8> {
    static ARCHIVE: OnceLock<Vec<u8>> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let store = Store::temporary().unwrap();
        square(&store, site!("decoders::archived"), 3, &Runs::default());
        let mut out = Vec::new();
        store.export(&mut out, &mut |_, _| {}).unwrap();
        out
    })
}

fn damage(mut bytes: Vec<u8>, flips: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    for (at, mask) in flips {
        if !bytes.is_empty() {
            let at = at % bytes.len();
            bytes[at] ^= mask | 1;
        }
    }
    if let Some(cut) = cut {
        bytes.truncate(cut % (bytes.len() + 1));
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_decode_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        decode_records(&bytes);
    }

    #[test]
    fn damaged_records_decode_without_panic(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let (entry, function) = samples();
        decode_records(&damage(entry.clone(), &flips, cut));
        decode_records(&damage(function.clone(), &flips, cut));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_damaged_archive_imports_nothing(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let bytes = damage(archive().clone(), &flips, cut);
        let store = Store::temporary().unwrap();
        if !import_archive(&store, &bytes) {
            prop_assert_eq!(store.stats().unwrap().entries, 0, "a refused archive changes nothing");
        }
    }
}

#[test]
fn the_intact_archive_imports() {
    let store = Store::temporary().unwrap();
    assert!(import_archive(&store, archive()));
    assert_eq!(store.stats().unwrap().entries, 1);
}

/// Found by the fuzzer: a frame claiming 4 GiB in a 60-byte archive once allocated it all.
#[test]
fn a_frame_longer_than_the_archive_is_refused_without_allocating() {
    let bytes = include_bytes!("fuzz-regressions/archive-huge-frame.bin");
    let store = Store::temporary().unwrap();
    assert!(!import_archive(&store, bytes));
    assert_eq!(store.stats().unwrap().entries, 0);
}

// Every test above again, on the sled engine.
memo_runtime::suite_again_on_sled!();
