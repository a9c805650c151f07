//! Results too large for the database are files beside it, `blobs/<hash>`: they read back
//! whole and right, a damaged, cut or missing file is a miss (recomputed, one warning),
//! and gc, verify, clear, export and import treat them as the results they are. (A disk
//! too full for the file: `tests/reliability.rs`.)

mod support;

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use memo_runtime::{Digest, Gc, Plain, Store, call, with_store};
use support::{Runs, key, warnings};

/// 12 MiB: past the size at which a result becomes a file.
const BIG: usize = 12 << 20;

fn big_value(x: u64) -> String {
    let line = format!("line {x:>8}\n");
    line.repeat(BIG / line.len())
}

/// A cached `big_value(x)` in `store`.
fn big(store: &Store, x: u64, runs: &Runs) -> String {
    let site = site!("file_results::big");
    with_store(store, || {
        call::<Plain<String>>(site, &key(site, x), memo_runtime::Share::typed(), || {
            runs.bump();
            big_value(x)
        })
    })
}

/// The files in the store's `blobs` directory, once what was called is written.
fn files(store: &Store) -> Vec<PathBuf> {
    store.flush().unwrap();
    let Ok(listing) = fs::read_dir(store.dir().join("blobs")) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = listing.map(|item| item.unwrap().path()).collect();
    out.sort();
    out
}

fn file_of(store: &Store, output: &Digest) -> PathBuf {
    store.dir().join("blobs").join(output.to_string())
}

fn only_output(store: &Store) -> Digest {
    store.flush().unwrap();
    let entries = store.entries().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].output
}

#[test]
fn a_large_result_is_one_file_named_by_its_hash_and_reads_back_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let runs = Runs::default();
    let output = {
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(big(&store, 1, &runs), big_value(1));
        assert_eq!(big(&store, 1, &runs), big_value(1));
        assert_eq!(runs.get(), 1, "the second call is a hit");
        let output = only_output(&store);
        let file = file_of(&store, &output);
        assert_eq!(files(&store), vec![file.clone()]);
        let size = fs::metadata(&file).unwrap().len();
        assert!(size > BIG as u64 - 64 && size < BIG as u64 + 64, "{size}");
        let stats = store.stats().unwrap();
        assert!(stats.disk_bytes >= size, "{stats:?}");
        assert_eq!(stats.blobs, 1);
        let database = memo_runtime::raw::database_bytes(store.dir());
        assert!(database < 4 << 20, "the database holds no copy: {database}");
        // The bytes a user reads through the store are the file's.
        let bytes = store.blob(&output).unwrap().unwrap();
        assert_eq!(bytes.len() as u64, size);
        assert_eq!(Digest(*blake3::hash(&bytes).as_bytes()), output);
        output
    };
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(big(&store, 1, &runs), big_value(1));
    assert_eq!(runs.get(), 1, "a hit in the reopened store");
    assert_eq!(only_output(&store), output);
}

#[test]
fn two_keys_with_the_same_large_result_share_one_file() {
    let store = Store::temporary().unwrap();
    let site = site!("file_results::same");
    for x in 0..3 {
        with_store(&store, || {
            call::<Plain<String>>(site, &key(site, x), memo_runtime::Share::typed(), || {
                big_value(7)
            })
        });
    }
    assert_eq!(files(&store).len(), 1);
    assert_eq!(store.entries().unwrap().len(), 3);
}

/// What damage does to a result's file, and a call after it.
fn damaged_file_is_recomputed(damage: impl FnOnce(&Path)) {
    let dir = tempfile::tempdir().unwrap();
    let output = {
        let store = Store::open(dir.path()).unwrap();
        big(&store, 2, &Runs::default());
        only_output(&store)
    };
    let store = Store::open(dir.path()).unwrap();
    damage(&file_of(&store, &output));
    let runs = Runs::default();
    let (value, logged) = warnings(|| big(&store, 2, &runs));
    assert_eq!(value, big_value(2), "never the damaged value");
    assert_eq!(runs.get(), 1, "recomputed");
    assert_eq!(logged.len(), 1, "one warning: {logged:?}");
    assert!(logged[0].contains("did not match their hash"), "{logged:?}");
    // Repaired: the next call is a quiet hit, from a whole file.
    let (again, logged) = warnings(|| big(&store, 2, &runs));
    assert_eq!(again, value);
    assert_eq!(runs.get(), 1);
    assert!(logged.is_empty(), "{logged:?}");
    let bytes = fs::read(file_of(&store, &output)).unwrap();
    assert_eq!(Digest(*blake3::hash(&bytes).as_bytes()), output);
}

#[test]
fn a_file_with_one_byte_changed_is_recomputed_with_one_warning() {
    damaged_file_is_recomputed(|file| {
        let mut bytes = fs::read(file).unwrap();
        // Deep inside: a reader that stopped early would not see it.
        let at = bytes.len() - 100;
        bytes[at] ^= 0x01;
        fs::write(file, bytes).unwrap();
    });
}

#[test]
fn a_cut_short_file_is_recomputed_with_one_warning() {
    damaged_file_is_recomputed(|file| {
        let size = fs::metadata(file).unwrap().len();
        fs::OpenOptions::new()
            .write(true)
            .open(file)
            .unwrap()
            .set_len(size / 2)
            .unwrap();
    });
}

#[test]
fn a_missing_file_is_recomputed_with_one_warning() {
    damaged_file_is_recomputed(|file| fs::remove_file(file).unwrap());
}

#[test]
fn a_file_grown_longer_is_recomputed_with_one_warning() {
    damaged_file_is_recomputed(|file| {
        let mut bytes = fs::read(file).unwrap();
        bytes.extend_from_slice(b"trailing");
        fs::write(file, bytes).unwrap();
    });
}

#[test]
fn verify_finds_and_removes_a_damaged_file() {
    let store = Store::temporary().unwrap();
    big(&store, 3, &Runs::default());
    big(&store, 4, &Runs::default());
    store.flush().unwrap();
    assert!(store.verify(&mut |_, _| {}).unwrap().is_clean());
    let entries = store.entries().unwrap();
    let damaged = entries[0].output;
    let kept = entries[1].output;
    let file = file_of(&store, &damaged);
    let mut bytes = fs::read(&file).unwrap();
    bytes[20] ^= 0xFF;
    fs::write(&file, bytes).unwrap();

    let report = store.verify(&mut |_, _| {}).unwrap();
    assert_eq!(report.bad_blobs, vec![damaged]);
    assert_eq!(report.bad_entries, 1);
    assert!(!file.exists(), "the damaged file is removed");
    assert!(file_of(&store, &kept).exists(), "the whole one stays");
    assert!(store.verify(&mut |_, _| {}).unwrap().is_clean());
}

#[test]
fn removing_results_removes_their_files_at_gc_and_clear_removes_them_all() {
    let store = Store::temporary().unwrap();
    for x in 5..8 {
        big(&store, x, &Runs::default());
    }
    assert_eq!(files(&store).len(), 3);
    let file_bytes = |store: &Store| -> u64 {
        files(store)
            .iter()
            .map(|path| fs::metadata(path).unwrap().len())
            .sum()
    };
    let before = file_bytes(&store);
    assert!(store.stats().unwrap().disk_bytes >= before);

    let gone = store.entries().unwrap()[0].clone();
    assert!(store.remove(&gone.key).unwrap());
    let report = store.gc(&Gc::new()).unwrap();
    assert_eq!(report.blobs_removed, 1, "{report:?}");
    assert!(report.bytes_freed >= BIG as u64 - 64, "{report:?}");
    assert!(!file_of(&store, &gone.output).exists());
    assert_eq!(files(&store).len(), 2);
    // The files' room is given back (the database file beside them may grow by a
    // commit's pages meanwhile).
    let after = file_bytes(&store);
    assert!(before - after >= BIG as u64 - 64, "{before} -> {after}");

    // A size budget counts the files.
    let report = store
        .gc(&Gc::new().max_bytes(BIG as u64 + (1 << 20)))
        .unwrap();
    assert_eq!(report.entries_removed, 1, "{report:?}");
    assert_eq!(files(&store).len(), 1);

    store.clear().unwrap();
    assert!(files(&store).is_empty(), "{:?}", files(&store));
    let runs = Runs::default();
    big(&store, 5, &runs);
    assert_eq!(runs.get(), 1, "cleared means recomputed");
}

/// Sets `path`'s modification time `age` in the past.
fn age(path: &Path, age: Duration) {
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

#[test]
fn gc_sweeps_old_orphan_files_and_dead_writers_leftovers_but_not_young_or_live_ones() {
    let store = Store::temporary().unwrap();
    big(&store, 8, &Runs::default());
    let kept = file_of(&store, &only_output(&store));
    age(&kept, Duration::from_secs(3600));
    let blobs = store.dir().join("blobs");

    // A file no pointer names, an hour old: its writer died between file and pointer.
    let orphan = blobs.join(Digest([3; 32]).to_string());
    fs::write(&orphan, vec![1u8; 4096]).unwrap();
    age(&orphan, Duration::from_secs(3600));
    // The same, a second old: its pointer may be on its way.
    let young = blobs.join(Digest([4; 32]).to_string());
    fs::write(&young, b"young").unwrap();
    // Half-written by a process that is gone, and by this one.
    let dead = blobs.join(format!(".tmp-{}-0", u32::MAX - 1));
    fs::write(&dead, vec![2u8; 1000]).unwrap();
    let live = blobs.join(format!(".tmp-{}-99999", std::process::id()));
    fs::write(&live, b"writing").unwrap();
    // Half-written by a process still running, but too long ago to be still writing.
    let stuck = blobs.join(format!(".tmp-{}-99998", std::process::id()));
    fs::write(&stuck, b"stuck").unwrap();
    age(&stuck, Duration::from_secs(2 * 3600));

    let report = store.gc(&Gc::new()).unwrap();
    assert!(!orphan.exists() && !dead.exists() && !stuck.exists());
    assert!(young.exists() && live.exists());
    assert!(kept.exists(), "a file its pointer names stays, however old");
    assert_eq!(report.blobs_removed, 1, "{report:?}");
    assert!(report.disk_bytes_freed >= 4096 + 1000, "{report:?}");
    let runs = Runs::default();
    assert_eq!(big(&store, 8, &runs), big_value(8));
    assert_eq!(runs.get(), 0);
}

#[test]
fn export_and_import_carry_a_large_result_as_a_file() {
    let from = Store::temporary().unwrap();
    big(&from, 9, &Runs::default());
    from.flush().unwrap();
    let mut archive = Vec::new();
    let report = from.export(&mut archive, &mut |_, _| {}).unwrap();
    assert_eq!(report.blobs, 1);
    assert!(archive.len() > BIG - 64);

    let to = Store::temporary().unwrap();
    to.import_trusting(Cursor::new(&archive), &mut |_, _| {})
        .unwrap();
    let output = only_output(&to);
    assert_eq!(files(&to), vec![file_of(&to, &output)], "a file, not a row");
    let database = memo_runtime::raw::database_bytes(to.dir());
    assert!(database < 4 << 20, "{database}");
    let runs = Runs::default();
    assert_eq!(big(&to, 9, &runs), big_value(9));
    assert_eq!(runs.get(), 0, "a hit from the imported file");
    assert!(to.verify(&mut |_, _| {}).unwrap().is_clean());
}

/// Postcard cannot read an untagged enum back: it is stored as CBOR, into the file too.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum Doc {
    Text(String),
    Lines(Vec<String>),
}

#[test]
fn a_large_result_stored_as_cbor_is_a_file_and_reads_back() {
    let store = Store::temporary().unwrap();
    let site = site!("file_results::doc");
    let runs = Runs::default();
    let doc = || {
        with_store(&store, || {
            call::<Plain<Doc>>(site, &key(site, 1), memo_runtime::Share::typed(), || {
                runs.bump();
                Doc::Lines((0..400_000).map(|i| format!("line {i:>20}")).collect())
            })
        })
    };
    let first = doc();
    let (second, logged) = warnings(doc);
    assert_eq!(first, second);
    assert_eq!(runs.get(), 1, "a hit: {logged:?}");
    assert!(logged.is_empty(), "{logged:?}");
    let output = only_output(&store);
    let bytes = fs::read(file_of(&store, &output)).unwrap();
    assert!(bytes.len() > 8 << 20, "{}", bytes.len());
    assert_eq!(Digest(*blake3::hash(&bytes).as_bytes()), output);
}

// Every test above again, on the sled engine.
memo_runtime::suite_again_on_sled!();
