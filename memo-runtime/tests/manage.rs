//! Managing a store: listing, invalidation, gc, counters across runs, the format stamp.

mod support;

use std::time::Duration;

use memo_runtime::{Error, Gc, Plain, STORE_FORMAT_VERSION, Store, call, with_store};
use support::{Runs, key, square};

static ML: &[&str] = &["ml", "nightly"];

#[test]
fn a_new_store_ignores_itself_in_git() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("cache")).unwrap();
    let ignore = std::fs::read_to_string(store.dir().join(".gitignore")).unwrap();
    assert!(ignore.lines().any(|line| line == "*"));
}

#[test]
fn opening_an_open_directory_returns_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let a = Store::open(dir.path()).unwrap();
    let b = Store::open(dir.path().join(".")).unwrap();
    assert_eq!(a, b);
    let site = site!("manage::shared");
    let runs = Runs::default();
    square(&a, site, 1, &runs);
    square(&b, site, 1, &runs);
    assert_eq!(runs.get(), 1);
}

#[test]
fn a_temporary_store_is_removed_when_dropped() {
    let store = Store::temporary().unwrap();
    let dir = store.dir().to_owned();
    assert!(dir.exists());
    drop(store);
    assert!(!dir.exists());
}

#[test]
fn entries_carry_their_metadata() {
    let store = Store::temporary().unwrap();
    let site = site!(
        "manage::train",
        fingerprint = [9; 32],
        ttl = Some(3600),
        tags = ML
    );
    square(&store, site, 3, &Runs::default());
    let entries = store.entries().unwrap();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry.function, "manage::train");
    assert_eq!(entry.fingerprint.0, [9; 32]);
    assert_eq!(entry.tags, vec!["ml", "nightly"]);
    assert_eq!(entry.size, 1, "postcard encodes 9 in one byte");
    assert_eq!(
        entry
            .expires
            .unwrap()
            .duration_since(entry.created)
            .unwrap(),
        Duration::from_secs(3600)
    );
    assert_eq!(store.entry(&entry.key).unwrap().as_ref(), Some(entry));
    let bytes = store.result(&entry.key).unwrap().unwrap();
    assert_eq!(postcard::from_bytes::<u64>(&bytes).unwrap(), 9);
    let record = store.function("manage::train").unwrap().unwrap();
    assert_eq!(record.current.0, [9; 32]);
    assert_eq!(record.file, file!());
}

#[test]
fn invalidate_by_tag_by_function_and_by_key() {
    let store = Store::temporary().unwrap();
    let tagged = site!(
        "manage::tagged",
        fingerprint = [1; 32],
        ttl = None,
        tags = ML
    );
    let plain = site!("manage::plain");
    let runs = Runs::default();
    for x in 0..3 {
        square(&store, tagged, x, &runs);
        square(&store, plain, x, &runs);
    }
    assert_eq!(store.invalidate_tag("ml").unwrap(), 3);
    assert_eq!(store.invalidate_tag("ml").unwrap(), 0);
    assert_eq!(
        store.invalidate_tag("nightly").unwrap(),
        0,
        "both tag lines went"
    );
    square(&store, tagged, 0, &runs);
    assert_eq!(runs.get(), 7, "an invalidated result is recomputed");

    assert_eq!(store.invalidate_fn("manage::plain").unwrap(), 3);
    let left = store.entries().unwrap();
    assert_eq!(left.len(), 1);
    assert!(store.remove(&left[0].key).unwrap());
    assert!(!store.remove(&left[0].key).unwrap());
    assert_eq!(store.stats().unwrap().entries, 0);
}

#[test]
fn clear_removes_everything() {
    let store = Store::temporary().unwrap();
    let site = site!("manage::clear");
    for x in 0..4 {
        square(&store, site, x, &Runs::default());
    }
    store.clear().unwrap();
    let stats = store.stats().unwrap();
    assert_eq!((stats.entries, stats.blobs), (0, 0));
}

#[test]
fn gc_removes_expired_entries_and_orphan_blobs() {
    let store = Store::temporary().unwrap();
    let brief = site!(
        "manage::brief",
        fingerprint = [1; 32],
        ttl = Some(0),
        tags = &[]
    );
    let lasting = site!("manage::lasting");
    // Over 256 bytes each: stored as blobs, not inside the entries.
    let big = |site, x: u64| {
        with_store(&store, || {
            call::<Plain<Vec<u8>>>(site, &key(site, x), memo_runtime::Share::typed(), || {
                vec![x as u8; 300]
            })
        })
    };
    big(brief, 2);
    big(lasting, 3);
    let report = store.gc(&Gc::new().expired()).unwrap();
    assert_eq!(report.entries_removed, 1);
    assert_eq!(report.blobs_removed, 1);
    assert_eq!(store.stats().unwrap().entries, 1);
    assert_eq!(store.stats().unwrap().evictions, 1);
}

#[test]
fn gc_stale_keeps_only_the_current_code_version() {
    let dir = tempfile::tempdir().unwrap();
    let old = site!(
        "manage::model",
        fingerprint = [1; 32],
        ttl = None,
        tags = &[]
    );
    {
        let store = Store::open(dir.path()).unwrap();
        square(&store, old, 1, &Runs::default());
        square(&store, old, 2, &Runs::default());
    }
    // The next build of the program: the same function with new code, in a new run.
    let new = site!(
        "manage::model",
        fingerprint = [2; 32],
        ttl = None,
        tags = &[]
    );
    let store = Store::open(dir.path()).unwrap();
    square(&store, new, 1, &Runs::default());
    let record = store.function("manage::model").unwrap().unwrap();
    assert_eq!(record.current.0, [2; 32]);
    assert_eq!(record.versions.len(), 2);
    let report = store.gc(&Gc::new().stale()).unwrap();
    assert_eq!(report.entries_removed, 2);
    let left = store.entries().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].fingerprint.0, [2; 32]);
}

#[test]
fn gc_to_a_size_budget_drops_the_least_recently_used() {
    let store = Store::temporary().unwrap();
    let site = site!("manage::sized");
    for x in 0..10u64 {
        with_store(&store, || {
            call::<Plain<Vec<u8>>>(site, &key(site, x), memo_runtime::Share::typed(), || {
                vec![x as u8; 1000]
            })
        });
        std::thread::sleep(Duration::from_millis(2));
    }
    let before = store.stats().unwrap().bytes;
    assert!(before > 10_000, "{before}");
    let report = store.gc(&Gc::new().max_bytes(3_500)).unwrap();
    assert_eq!(report.entries_removed, 7);
    assert_eq!(report.blobs_removed, 7);
    assert!(store.stats().unwrap().bytes <= 3_500);
    let runs = Runs::default();
    let newest = with_store(&store, || {
        call::<Plain<Vec<u8>>>(site, &key(site, 9), memo_runtime::Share::typed(), || {
            runs.bump();
            vec![]
        })
    });
    assert_eq!(
        (newest.len(), runs.get()),
        (1000, 0),
        "the newest entry survived"
    );
}

#[test]
fn gc_older_than_goes_by_creation_time() {
    let store = Store::temporary().unwrap();
    let site = site!("manage::aged");
    let runs = Runs::default();
    square(&store, site, 1, &runs);
    std::thread::sleep(Duration::from_millis(30));
    square(&store, site, 2, &runs);
    let report = store
        .gc(&Gc::new().older_than(Duration::from_millis(20)))
        .unwrap();
    assert_eq!(report.entries_removed, 1);
    square(&store, site, 2, &runs);
    assert_eq!(runs.get(), 2, "the younger entry stayed");
}

#[test]
fn gc_unused_for_spares_recent_entries() {
    let store = Store::temporary().unwrap();
    square(&store, site!("manage::recent"), 1, &Runs::default());
    let report = store
        .gc(&Gc::new().unused_for(Duration::from_secs(3600)))
        .unwrap();
    assert_eq!(report.entries_removed, 0);
    std::thread::sleep(Duration::from_millis(20));
    let report = store
        .gc(&Gc::new().unused_for(Duration::from_millis(10)))
        .unwrap();
    assert_eq!(report.entries_removed, 1);
}

#[test]
fn counters_are_kept_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let site = site!("manage::counted");
    {
        let store = Store::open(dir.path()).unwrap();
        let runs = Runs::default();
        square(&store, site, 1, &runs);
        square(&store, site, 1, &runs);
        square(&store, site, 1, &runs);
    }
    let store = Store::open(dir.path()).unwrap();
    let stats = store.stats().unwrap();
    assert_eq!((stats.hits, stats.misses, stats.entries), (2, 1, 1));
    assert!((stats.hit_rate() - 2.0 / 3.0).abs() < 1e-9);
}

#[test]
fn a_store_of_another_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    {
        let db = memo_runtime::raw::RawStore::open(dir.path()).unwrap();
        db.insert("meta", b"format", &99u32.to_le_bytes()).unwrap();
    }
    let error = Store::open(dir.path()).unwrap_err();
    assert!(matches!(
        error,
        Error::FormatVersion {
            found: 99,
            expected: STORE_FORMAT_VERSION,
            ..
        }
    ));
    let message = error.to_string();
    assert!(message.contains("99") && message.contains(&STORE_FORMAT_VERSION.to_string()));
    assert!(message.contains("remove the directory"), "{message}");
}

/// A version 2 store keyed its entries another way: opened, it is emptied with one
/// warning (nothing could be found in it again, nothing is misread), and works on.
#[test]
fn a_store_of_the_version_before_is_emptied_once_and_works_on() {
    let dir = tempfile::tempdir().unwrap();
    let site = site!("manage::upgraded");
    let runs = Runs::default();
    {
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(square(&store, site, 6, &runs), 36);
    }
    {
        let db = memo_runtime::raw::RawStore::open(dir.path()).unwrap();
        db.insert("meta", b"format", &2u32.to_le_bytes()).unwrap();
    }
    let (_, logged) = support::warnings(|| {
        let store = Store::open(dir.path()).unwrap();
        assert!(store.entries().unwrap().is_empty(), "emptied");
        assert_eq!(square(&store, site, 6, &runs), 36);
        assert_eq!(runs.get(), 2, "computed again");
        assert_eq!(square(&store, site, 6, &runs), 36);
        assert_eq!(runs.get(), 2, "and stored");
    });
    let said: Vec<&String> = logged.iter().filter(|l| l.contains("format 2")).collect();
    assert_eq!(said.len(), 1, "{logged:?}");
    let db = memo_runtime::raw::RawStore::open(dir.path()).unwrap();
    assert_eq!(
        db.get("meta", b"format").unwrap(),
        Some(STORE_FORMAT_VERSION.to_le_bytes().to_vec()),
        "stamped with this version"
    );
}

/// A version 3 store's records lack only the compute time at their end: opened, it keeps
/// every entry, answers from them, and is stamped with this version.
#[test]
fn a_store_of_format_3_keeps_its_entries_and_is_stamped_anew() {
    let dir = tempfile::tempdir().unwrap();
    let site = site!("manage::format_3");
    let runs = Runs::default();
    {
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(square(&store, site, 7, &runs), 49);
    }
    {
        let db = memo_runtime::raw::RawStore::open(dir.path()).unwrap();
        db.insert("meta", b"format", &3u32.to_le_bytes()).unwrap();
    }
    let (_, logged) = support::warnings(|| {
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.entries().unwrap().len(), 1, "kept");
        assert_eq!(square(&store, site, 7, &runs), 49);
        assert_eq!(runs.get(), 1, "answered from the store");
    });
    assert!(logged.is_empty(), "{logged:?}");
    let db = memo_runtime::raw::RawStore::open(dir.path()).unwrap();
    assert_eq!(
        db.get("meta", b"format").unwrap(),
        Some(STORE_FORMAT_VERSION.to_le_bytes().to_vec())
    );
}

/// A version 4 store — before stores had a secret — has its records end before the MAC:
/// opened, it gets a secret, its entries (its user's own) are signed with it, and `verify`
/// finds every one sound; a record added behind its back afterwards is not.
#[test]
fn a_store_of_format_4_has_its_entries_signed_when_first_opened() {
    let dir = tempfile::tempdir().unwrap();
    let site = site!("manage::format_4");
    let runs = Runs::default();
    let keys: Vec<memo_runtime::Digest> = {
        let store = Store::open(dir.path()).unwrap();
        (0..5).for_each(|x| assert_eq!(square(&store, site, x, &runs), x * x));
        store.entries().unwrap().iter().map(|e| e.key).collect()
    };
    {
        // As format 4 wrote them: the whole record in the entries tree (a row followed by
        // its details), with no MAC at the end (a `None`, one zero byte), and no secret.
        let db = memo_runtime::raw::RawStore::open(dir.path()).unwrap();
        for key in &keys {
            let row = db.get("entries", key.as_bytes()).unwrap().unwrap();
            let details = db.get("details", key.as_bytes()).unwrap().unwrap();
            let old = [&row[..], &details[..details.len() - 33], &[0][..]].concat();
            db.insert("entries", key.as_bytes(), &old).unwrap();
        }
        db.insert("meta", b"format", &4u32.to_le_bytes()).unwrap();
        std::fs::remove_file(dir.path().join("secret")).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert!(dir.path().join("secret").is_file(), "made");
    assert_eq!(store.entries().unwrap().len(), 5, "kept");
    let report = store.verify(&mut |_, _| {}).unwrap();
    assert!(report.is_clean(), "{report:?}");
    (0..5).for_each(|x| assert_eq!(square(&store, site, x, &runs), x * x));
    assert_eq!(runs.get(), 5, "answered from the store");
    drop(store);
    let db = memo_runtime::raw::RawStore::open(dir.path()).unwrap();
    assert_eq!(
        db.get("meta", b"format").unwrap(),
        Some(STORE_FORMAT_VERSION.to_le_bytes().to_vec())
    );
    // Split as this format keeps it: the row, and its details with no MAC.
    let row = db.get("entries", keys[0].as_bytes()).unwrap().unwrap();
    let details = db.get("details", keys[0].as_bytes()).unwrap().unwrap();
    assert!(row.len() < 64, "a lookup reads {} bytes", row.len());
    let unsigned = [&details[..details.len() - 33], &[0][..]].concat();
    db.insert("entries", &[0xAB; 32], &row).unwrap();
    db.insert("details", &[0xAB; 32], &unsigned).unwrap();
    drop(db);
    let report = Store::open(dir.path())
        .unwrap()
        .verify(&mut |_, _| {})
        .unwrap();
    assert_eq!(report.forged_entries, 1, "{report:?}");
}

#[test]
fn damaged_index_lines_are_skipped_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let tagged = site!(
        "manage::indexed",
        fingerprint = [1; 32],
        ttl = None,
        tags = ML
    );
    let input = memo_runtime::Digest([5; 32]);
    {
        let store = Store::open(dir.path()).unwrap();
        square(&store, tagged, 1, &Runs::default());
    }
    {
        let db = memo_runtime::raw::RawStore::open(dir.path()).unwrap();
        db.insert("tags", b"ml\xffshort", &[]).unwrap();
        let mut lineage = input.as_bytes().to_vec();
        lineage.extend_from_slice(b"short");
        db.insert("lineage", &lineage, &[]).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.consumers(&input).unwrap(), vec![]);
    assert_eq!(
        store.invalidate_tag("ml").unwrap(),
        1,
        "the intact line still works"
    );
}

#[test]
fn an_entry_written_again_with_other_tags_answers_to_its_new_tags_only() {
    let store = Store::temporary().unwrap();
    // One function and code version, its tags edited between two runs: same keys.
    let before = site!(
        "manage::retagged",
        fingerprint = [3; 32],
        ttl = None,
        tags = ML
    );
    let after = site!(
        "manage::retagged",
        fingerprint = [3; 32],
        ttl = None,
        tags = &["other"]
    );
    square(&store, before, 3, &Runs::default());
    memo_runtime::refresh(|| square(&store, after, 3, &Runs::default()));
    assert_eq!(store.entries().unwrap()[0].tags, vec!["other".to_owned()]);
    assert_eq!(
        store.invalidate_tag("ml").unwrap(),
        0,
        "the old tag's line no longer removes the entry"
    );
    let runs = Runs::default();
    assert_eq!(square(&store, after, 3, &runs), 9);
    assert_eq!(runs.get(), 0, "still stored");
    assert_eq!(store.invalidate_tag("other").unwrap(), 1);
    assert_eq!(store.entries().unwrap(), vec![]);
}

/// 3,000 distinct results of 4 KB each, stored as blobs.
fn fill_with_blobs(store: &Store) {
    let site = site!("manage::roomy");
    for x in 0..3000u64 {
        with_store(store, || {
            call::<Plain<Vec<u8>>>(site, &key(site, x), memo_runtime::Share::typed(), || {
                x.to_le_bytes().repeat(500)
            })
        });
    }
    store.flush().unwrap();
}

#[test]
fn gc_gives_back_the_room_that_removed_results_left() {
    let store = Store::temporary().unwrap();
    fill_with_blobs(&store);
    let before = store.stats().unwrap().disk_bytes;
    assert!(before > 12 << 20, "{before}");
    let report = store.gc(&Gc::new().max_bytes(0)).unwrap();
    assert_eq!(report.entries_removed, 3000);
    assert!(report.disk_bytes_freed > 8 << 20, "{report:?}");
    let after = store.stats().unwrap().disk_bytes;
    assert_eq!(after, before - report.disk_bytes_freed);
    assert!(after < 2 << 20, "{after}");
}

#[test]
fn closing_a_store_compacts_a_file_left_mostly_free() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let store = Store::open(dir.path()).unwrap();
        fill_with_blobs(&store);
        store.clear().unwrap();
        store.stats().unwrap().disk_bytes
    };
    // How much the file grew to depends on how the writes were batched into commits.
    assert!(before > 6 << 20, "{before}");
    let store = Store::open(dir.path()).unwrap();
    let after = store.stats().unwrap().disk_bytes;
    assert!(after < 2 << 20, "{after}");
    assert_eq!(store.stats().unwrap().entries, 0);
}

#[test]
fn a_store_of_format_one_is_refused_not_opened_empty() {
    let dir = tempfile::tempdir().unwrap();
    // What a sled-era store directory holds.
    std::fs::write(dir.path().join("conf"), b"segment_size: 524288\n").unwrap();
    std::fs::write(dir.path().join("db"), [0u8; 64]).unwrap();
    let error = Store::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            error,
            Error::FormatVersion {
                found: 1,
                expected: STORE_FORMAT_VERSION,
                ..
            }
        ),
        "{error}"
    );
    for database in ["store.redb", "store.sled"] {
        assert!(!dir.path().join(database).exists(), "{database}");
    }
}

// Every test above again, on the sled engine.
memo_runtime::suite_again_on_sled!();

/// A write cut short between an entry's two rows leaves its details alone, or its row
/// alone: `verify` removes either, and the store is clean and serves the rest.
#[test]
fn verify_removes_an_entry_written_by_half() {
    let dir = tempfile::tempdir().unwrap();
    let site = site!("manage::halves");
    let runs = Runs::default();
    let key = {
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(square(&store, site, 4, &runs), 16);
        store.entries().unwrap()[0].key
    };
    {
        let db = memo_runtime::raw::RawStore::open(dir.path()).unwrap();
        let row = db.get("entries", key.as_bytes()).unwrap().unwrap();
        let details = db.get("details", key.as_bytes()).unwrap().unwrap();
        db.insert("details", &[0x01; 32], &details).unwrap();
        db.insert("entries", &[0xFE; 32], &row).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let report = store.verify(&mut |_, _| {}).unwrap();
    assert_eq!(report.bad_entries, 2, "{report:?}");
    assert!(store.verify(&mut |_, _| {}).unwrap().is_clean());
    assert_eq!(store.entries().unwrap().len(), 1);
    assert_eq!(square(&store, site, 4, &runs), 16);
    assert_eq!(runs.get(), 1, "the whole entry still answers");
}
