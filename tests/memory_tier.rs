//! The in-memory tier: one cache shared by the process's threads, bounded by the memory
//! budget, keeping frequent keys through a scan, answering for the store in scope and its
//! epoch only, and never running user code where it could call back into memo.
//!
//! The budget is the process's: every test here takes `BUDGET` for its whole run.

#![deny(warnings)]

mod support;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use memo::{Store, cached};
use support::{hit, in_store, miss, ran};

/// Held by each test: they set the process-wide budget.
static BUDGET: Mutex<()> = Mutex::new(());

fn budget(bytes: usize) -> std::sync::MutexGuard<'static, ()> {
    let guard = BUDGET.lock().unwrap_or_else(|p| p.into_inner());
    memo::set_memory_budget(bytes);
    guard
}

#[cached]
fn row(x: u64) -> Vec<u8> {
    ran();
    vec![(x % 251) as u8; 200]
}

/// A ttl keeps a function off the exact path: its results are found by their key stream.
#[cached(ttl = "1h")]
fn streamed(x: u64) -> String {
    ran();
    format!("value {x}")
}

/// Counts how often a result was decoded: a hit from the store decodes, a hit from the
/// tier clones.
static DECODES: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, Clone, PartialEq)]
struct Counted(u64);

impl serde::Serialize for Counted {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Counted {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Counted, D::Error> {
        DECODES.fetch_add(1, Ordering::Relaxed);
        u64::deserialize(d).map(Counted)
    }
}

#[cached]
fn counted(x: u64) -> Counted {
    ran();
    Counted(x * 3)
}

#[cached(ttl = "1h")]
fn counted_streamed(x: u64) -> Counted {
    ran();
    Counted(x * 5)
}

/// Runs `f` and says how many results it decoded.
fn decodes(f: impl FnOnce()) -> usize {
    let before = DECODES.load(Ordering::Relaxed);
    f();
    DECODES.load(Ordering::Relaxed) - before
}

#[test]
fn the_tier_stays_within_its_budget_and_keeps_what_fits() {
    let _budget = budget(256 << 10);
    in_store(|_| {
        for x in 0..5_000 {
            assert_eq!(miss(|| row(x)), vec![(x % 251) as u8; 200]);
            let usage = memo::memory_usage();
            assert!(usage.bytes <= usage.budget, "{usage:?}");
        }
        let usage = memo::memory_usage();
        // About 600 entries of 200 bytes and their overhead fit in 256 KiB, not 5,000.
        assert!(usage.entries > 300 && usage.entries < 2_000, "{usage:?}");
        // Every value is right, from the tier or the store.
        for x in 0..5_000 {
            assert_eq!(hit(|| row(x)), vec![(x % 251) as u8; 200]);
        }
    });
    memo::set_memory_budget(64 << 20);
}

#[test]
fn a_working_set_inside_the_budget_is_all_held_and_hits_without_decoding() {
    let _budget = budget(64 << 20);
    in_store(|_| {
        for x in 0..20_000 {
            miss(|| counted(x));
            miss(|| counted_streamed(x));
        }
        let usage = memo::memory_usage();
        assert!(usage.entries >= 40_000, "{usage:?}");
        let decoded = decodes(|| {
            for x in (0..20_000).rev() {
                assert_eq!(hit(|| counted(x)), Counted(x * 3));
                assert_eq!(hit(|| counted_streamed(x)), Counted(x * 5));
            }
        });
        assert_eq!(decoded, 0, "every hit came from memory, typed");
    });
}

#[test]
fn frequent_keys_survive_a_scan_of_one_off_keys() {
    let _budget = budget(64 << 20);
    // A tier in use, with entries other calls left behind.
    in_store(|_| (1_000_000..1_020_000).for_each(|x| assert_eq!(counted(x), Counted(x * 3))));
    // Off and on again: the tier still remembers what it evicted (a cache sized to
    // nothing and back forgets how many evicted keys to keep, and with them its
    // resistance to a scan).
    memo::set_memory_budget(0);
    memo::set_memory_budget(512 << 10);
    in_store(|_| {
        // A hot set, called again and again.
        for _ in 0..4 {
            for x in 0..100 {
                counted(x);
            }
        }
        // A scan far larger than the budget, each key once.
        for x in 1_000..30_000 {
            counted(x);
        }
        let usage = memo::memory_usage();
        assert!(usage.bytes <= usage.budget, "{usage:?}");
        assert!(
            usage.entries < 10_000,
            "the scan did not all fit: {usage:?}"
        );
        // The hot set is still in memory: its hits decode nothing.
        let decoded = decodes(|| {
            for x in 0..100 {
                assert_eq!(hit(|| counted(x)), Counted(x * 3));
            }
        });
        assert!(
            decoded <= 5,
            "{decoded} of 100 frequent keys were evicted by a scan"
        );
    });
    memo::set_memory_budget(64 << 20);
}

#[test]
fn a_budget_of_zero_holds_nothing_and_every_call_still_hits_the_store() {
    let _budget = budget(0);
    in_store(|store| {
        for x in 0..50 {
            miss(|| row(x));
            miss(|| streamed(x));
        }
        assert_eq!(memo::memory_usage().entries, 0);
        for x in 0..50 {
            hit(|| row(x));
            hit(|| streamed(x));
        }
        assert_eq!(memo::memory_usage().entries, 0);
        store.flush().unwrap();
        assert_eq!(store.stats().unwrap().hits, 100);
    });
    memo::set_memory_budget(64 << 20);
}

#[test]
fn turning_the_budget_to_zero_lets_go_of_what_it_held() {
    let _budget = budget(64 << 20);
    in_store(|_| {
        for x in 0..100 {
            miss(|| row(x));
        }
        assert!(memo::memory_usage().entries >= 100);
        memo::set_memory_budget(0);
        assert_eq!(memo::memory_usage().entries, 0);
        for x in 0..100 {
            hit(|| row(x));
        }
    });
    memo::set_memory_budget(64 << 20);
}

#[test]
fn invalidation_removal_gc_clear_and_refresh_are_seen_on_the_stream_path() {
    let _budget = budget(64 << 20);
    in_store(|store| {
        miss(|| streamed(1));
        hit(|| streamed(1));
        let name = store
            .functions()
            .unwrap()
            .into_iter()
            .find(|f| f.name.ends_with("streamed"))
            .unwrap()
            .name;
        assert_eq!(store.invalidate_fn(&name).unwrap(), 1);
        miss(|| streamed(1));
        hit(|| streamed(1));

        store.flush().unwrap();
        let key = store.entries().unwrap()[0].key;
        assert!(store.remove(&key).unwrap());
        miss(|| streamed(1));

        store.gc(&memo::Gc::new().max_bytes(0)).unwrap();
        miss(|| streamed(1));

        store.clear().unwrap();
        miss(|| streamed(1));
        hit(|| streamed(1));

        miss(|| memo::refresh(|| streamed(1)));
        hit(|| streamed(1));
        miss(|| memo::bypass(|| streamed(1)));
    });
}

#[test]
fn the_tier_answers_for_the_store_in_scope_only() {
    let _budget = budget(64 << 20);
    let a = Store::temporary().unwrap();
    let b = Store::temporary().unwrap();
    memo::with_store(&a, || miss(|| streamed(7)));
    memo::with_store(&b, || miss(|| streamed(7)));
    memo::with_store(&a, || hit(|| streamed(7)));
    memo::with_store(&a, || miss(|| row(7)));
    memo::with_store(&b, || miss(|| row(7)));
}

/// Not `Clone`: held as its bytes and decoded on a hit.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Opaque(Vec<u32>);

/// `Send` but not `Sync`: held as bytes too.
#[cached]
fn cell(x: u64) -> std::cell::Cell<u64> {
    ran();
    std::cell::Cell::new(x + 1)
}

#[cached]
fn opaque(x: u64) -> Opaque {
    ran();
    Opaque(vec![x as u32; 3])
}

#[test]
fn results_that_cannot_be_shared_as_themselves_are_held_as_bytes() {
    let _budget = budget(64 << 20);
    in_store(|_| {
        assert_eq!(miss(|| opaque(3)), Opaque(vec![3; 3]));
        assert_eq!(hit(|| opaque(3)), Opaque(vec![3; 3]));
        assert_eq!(miss(|| cell(3)).get(), 4);
        assert_eq!(hit(|| cell(3)).get(), 4);
    });
}

/// A result whose `Clone` and `Drop` call cached functions: the tier clones and drops
/// results outside the thread's state and outside its locks.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Reentrant(u64);

static DROPS: AtomicUsize = AtomicUsize::new(0);

impl Clone for Reentrant {
    fn clone(&self) -> Reentrant {
        streamed(self.0 % 5);
        Reentrant(self.0)
    }
}

impl Drop for Reentrant {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::Relaxed);
        row(self.0 % 7);
    }
}

#[cached(ttl = "1h")]
fn reentrant(x: u64) -> Reentrant {
    Reentrant(x)
}

#[test]
fn a_result_whose_clone_and_drop_call_cached_functions_is_fine() {
    let _budget = budget(64 << 10);
    in_store(|_| {
        for round in 0..3 {
            for x in 0..400 {
                assert_eq!(reentrant(x), Reentrant(x), "round {round}");
            }
        }
    });
    assert!(DROPS.load(Ordering::Relaxed) > 1_000);
    memo::set_memory_budget(64 << 20);
}

#[cached]
fn spread(x: u64) -> u64 {
    x.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

#[test]
fn threads_hit_one_function_while_others_fill_it() {
    let _budget = budget(1 << 20);
    let store = Store::temporary().unwrap();
    memo::with_store(&store, || {
        (0..200).for_each(|x| assert_eq!(spread(x), x.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
    });
    store.flush().unwrap();
    let before = store.stats().unwrap();
    let calls = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for t in 0..4u64 {
            let (store, calls) = (&store, &calls);
            scope.spawn(move || {
                memo::with_store(store, || {
                    for round in 0..2_000u64 {
                        let x = (round * 7 + t) % 200;
                        assert_eq!(spread(x), x.wrapping_mul(0x9e37_79b9_7f4a_7c15));
                        calls.fetch_add(1, Ordering::Relaxed);
                    }
                })
            });
        }
        for t in 0..2u64 {
            let (store, calls) = (&store, &calls);
            scope.spawn(move || {
                memo::with_store(store, || {
                    for x in 0..3_000u64 {
                        let x = 1_000 + x * 2 + t;
                        assert_eq!(spread(x), x.wrapping_mul(0x9e37_79b9_7f4a_7c15));
                        calls.fetch_add(1, Ordering::Relaxed);
                    }
                })
            });
        }
    });
    store.flush().unwrap();
    let after = store.stats().unwrap();
    let counted = (after.hits + after.misses) - (before.hits + before.misses);
    assert_eq!(counted, calls.load(Ordering::Relaxed) as u64);
    assert_eq!(
        after.misses - before.misses,
        6_000,
        "each new key computed once"
    );
    let usage = memo::memory_usage();
    assert!(usage.bytes <= usage.budget, "{usage:?}");
    memo::set_memory_budget(64 << 20);
}

/// Hits are the store's to count, exactly and at once: `stats` sees every hit a thread
/// has made while that thread is still running, in any number (no batch left pending in
/// the thread), without a flush.
#[test]
fn a_running_threads_hits_are_all_counted_the_moment_they_are_made() {
    let _budget = budget(1 << 20);
    let store = Store::temporary().unwrap();
    memo::with_store(&store, || {
        (0..10).for_each(|x| assert_eq!(spread(x), spread(x)))
    }); // 10 misses, 10 hits
    for hits in [1u64, 37, 255, 256, 1_000] {
        let before = store.stats().unwrap().hits;
        let (made, finish) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
        std::thread::scope(|scope| {
            scope.spawn(|| {
                memo::with_store(&store, || {
                    (0..hits).for_each(|x| {
                        std::hint::black_box(spread(x % 10));
                    })
                });
                made.wait();
                // Still running while the test reads the counters.
                finish.wait();
            });
            made.wait();
            let counted = store.stats().unwrap().hits - before;
            finish.wait();
            assert_eq!(counted, hits, "hits of a running thread, counted");
        });
    }
    memo::set_memory_budget(64 << 20);
}

/// Postcard cannot write a flattened struct: it is stored as CBOR, and measured so for the
/// budget, so it is held in memory like any other.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Flat {
    id: u64,
    #[serde(flatten)]
    rest: std::collections::BTreeMap<String, u64>,
}

#[cached]
fn flat(x: u64) -> Flat {
    ran();
    Flat {
        id: x,
        rest: [("a".to_owned(), x + 1)].into_iter().collect(),
    }
}

#[test]
fn a_result_stored_as_cbor_is_held_too() {
    let _budget = budget(64 << 20);
    in_store(|_| {
        let before = memo::memory_usage().entries;
        let value = miss(|| flat(5));
        assert_eq!(memo::memory_usage().entries, before + 1, "held in memory");
        assert_eq!(hit(|| flat(5)), value);
    });
}

#[cached]
fn word(x: u64) -> u64 {
    ran();
    x * 7
}

#[test]
fn calls_of_plain_words_stay_within_the_budget_and_answer_right_as_it_changes() {
    // Emptied first: as the table of plain words grows, the cache gives up room, and
    // results other tests left there (a `Reentrant` runs a cached body as it drops) would
    // be dropped inside the calls this test counts the runs of.
    let _budget = budget(0);
    memo::set_memory_budget(512 << 10);
    let within = || {
        let usage = memo::memory_usage();
        assert!(usage.bytes <= usage.budget, "{usage:?}");
        usage
    };
    in_store(|_| {
        for x in 0..50_000 {
            assert_eq!(miss(|| word(x)), x * 7);
        }
        // A quarter of 512 KiB holds up to 6,144 calls of `u64 → u64`, not 50,000.
        let usage = within();
        assert!(usage.entries > 1_000 && usage.entries <= 6_144, "{usage:?}");
        for x in 0..50_000 {
            assert_eq!(hit(|| word(x)), x * 7);
        }
        for bytes in [64 << 10, 0, 4 << 20, 16 << 10] {
            memo::set_memory_budget(bytes);
            for x in (0..50_000).step_by(7) {
                assert_eq!(hit(|| word(x)), x * 7);
            }
            let usage = within();
            if bytes == 0 {
                assert_eq!(usage.entries, 0, "{usage:?}");
            }
        }
    });
    memo::set_memory_budget(64 << 20);
}

#[test]
fn plain_words_stay_right_while_the_budget_changes_under_threads_hitting_and_filling() {
    let _budget = budget(0);
    memo::set_memory_budget(1 << 20);
    let store = Store::temporary().unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for t in 0..3u64 {
            let (store, done) = (&store, &done);
            scope.spawn(move || {
                memo::with_store(store, || {
                    let mut x = t;
                    while !done.load(Ordering::Relaxed) {
                        // Hot keys hit, new ones fill and grow the table.
                        let key = if x % 3 == 0 { x % 50 } else { x % 20_000 };
                        assert_eq!(word(key), key * 7, "thread {t}");
                        x += 3;
                    }
                });
            });
        }
        for round in 0..300 {
            memo::set_memory_budget([0, 64 << 10, 1 << 20, 64 << 20][round % 4]);
            let usage = memo::memory_usage();
            assert!(
                usage.bytes <= usage.budget || usage.budget == 0,
                "{usage:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        done.store(true, Ordering::Relaxed);
    });
    memo::set_memory_budget(64 << 20);
}
