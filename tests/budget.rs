//! A store's size budget: `max_bytes` / `MEMO_MAX_SIZE` and `max_entries` /
//! `MEMO_MAX_ENTRIES`. Filled with ten times what it may hold, the store ends within it —
//! the least recently used entries evicted by its own thread, counted in `stats` — while
//! every call returns its value.

mod support;

use std::time::{Duration, Instant};

use memo::{Store, cached};
use support::child::{child, in_child, number_after};

/// A 4 KiB result of its own for each `i`: nothing shared, each its own blob.
#[cached]
fn page(i: u32) -> Vec<u8> {
    (0..1024).flat_map(|_| i.to_le_bytes()).collect()
}

#[cached]
fn small(i: u32) -> u32 {
    i + 1
}

/// What the budget counts: the results' bytes, and 160 bytes an entry.
fn counted(store: &Store) -> (u64, u64) {
    let stats = store.stats().unwrap();
    (stats.bytes + stats.entries * 160, stats.entries)
}

/// Waits for the store's thread to bring it within `fits`.
fn settles(store: &Store, fits: impl Fn(u64, u64) -> bool) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (bytes, entries) = counted(store);
        if fits(bytes, entries) || Instant::now() > deadline {
            return (bytes, entries);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_fill_of_ten_times_the_budget_ends_within_it_newest_kept() {
    const BUDGET: u64 = 400 << 10;
    let store = Store::temporary_builder().max_bytes(BUDGET).open().unwrap();
    memo::with_store(&store, || {
        for i in 0..1000 {
            // Every value is right, whatever the thread evicts meanwhile.
            assert_eq!(page(i)[..4], i.to_le_bytes());
        }
    });
    let (bytes, entries) = settles(&store, |bytes, _| bytes <= BUDGET);
    assert!(bytes <= BUDGET, "{bytes} bytes in {entries} entries");
    assert!(
        entries >= 50,
        "it evicts down to 90%, not to nothing: {entries}"
    );
    let stats = store.stats().unwrap();
    assert!(stats.evictions >= 1000 - entries, "{stats:?}");
    // The least recently used went: the newest are still stored, the first are not.
    let kept: Vec<String> = store
        .entries()
        .unwrap()
        .into_iter()
        .filter_map(|entry| entry.args)
        .collect();
    assert!(kept.iter().any(|args| args == "i = 999"), "{kept:?}");
    assert!(!kept.iter().any(|args| args == "i = 0"), "{kept:?}");
}

#[test]
fn max_entries_bounds_the_count() {
    let store = Store::temporary_builder().max_entries(100).open().unwrap();
    memo::with_store(&store, || {
        for i in 0..1000 {
            assert_eq!(small(i), i + 1);
        }
    });
    let (_, entries) = settles(&store, |_, entries| entries <= 100);
    assert!((50..=100).contains(&entries), "{entries}");
    assert!(store.stats().unwrap().evictions >= 900);
}

#[test]
#[ignore = "run by the test below, as a child process"]
fn child_fill() {
    if !in_child() {
        return;
    }
    for i in 0..300 {
        page(i);
    }
    let store = memo::current_store().unwrap();
    if std::env::var_os("MEMO_TEST_SETTLE").is_some() {
        let (bytes, _) = settles(&store, |bytes, _| bytes <= 200 << 10);
        println!("settled at {bytes}");
    }
}

#[test]
fn memo_max_size_sets_the_budget_of_the_default_store() {
    let dir = tempfile::tempdir().unwrap();
    let out = child("child_fill", dir.path())
        .env("MEMO_MAX_SIZE", "200KiB")
        .env("MEMO_TEST_SETTLE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let settled = number_after(&stdout, "settled at ");
    assert!(settled <= 200 << 10, "{stdout}");
    // A value that is not a size is said once, and the store has no limit.
    let other = tempfile::tempdir().unwrap();
    let out = child("child_fill", other.path())
        .env("MEMO_MAX_SIZE", "ten gigs")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("MEMO_MAX_SIZE").count(), 1, "{stderr}");
    let store = Store::open(other.path()).unwrap();
    assert_eq!(store.stats().unwrap().entries, 300, "nothing evicted");
}
