//! The call path: hits and misses, `Result` returns, TTL, scopes and single-flight.

mod support;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use memo_runtime::{Plain, Store, bypass, call, call_ok, refresh, with_store};
use support::{Runs, key, square};

#[test]
fn the_second_call_is_a_hit() {
    let store = Store::temporary().unwrap();
    let site = site!("tests::square");
    let runs = Runs::default();
    assert_eq!(square(&store, site, 7, &runs), 49);
    assert_eq!(square(&store, site, 7, &runs), 49);
    assert_eq!(runs.get(), 1, "the second call must not run the body");
    assert_eq!(square(&store, site, 8, &runs), 64);
    assert_eq!(runs.get(), 2, "another argument is another key");
    let stats = store.stats().unwrap();
    assert_eq!((stats.hits, stats.misses, stats.entries), (1, 2, 2));
}

#[test]
fn fingerprint_and_name_are_part_of_the_key() {
    let store = Store::temporary().unwrap();
    let v1 = site!("tests::f", fingerprint = [1; 32], ttl = None, tags = &[]);
    let v2 = site!("tests::f", fingerprint = [2; 32], ttl = None, tags = &[]);
    let other = site!("tests::g", fingerprint = [1; 32], ttl = None, tags = &[]);
    let runs = Runs::default();
    square(&store, v1, 3, &runs);
    square(&store, v2, 3, &runs);
    square(&store, other, 3, &runs);
    assert_eq!(
        runs.get(),
        3,
        "new code, or another function, never reuses a result"
    );
    square(&store, v1, 3, &runs);
    assert_eq!(runs.get(), 3);
}

#[test]
fn only_ok_results_are_stored() {
    let store = Store::temporary().unwrap();
    let site = site!("tests::parse");
    let runs = Runs::default();
    let parse = |input: u64| {
        with_store(&store, || {
            call_ok::<Plain<u64>, Result<u64, String>>(
                site,
                &key(site, input),
                memo_runtime::Share::typed(),
                || {
                    runs.bump();
                    if input == 0 {
                        Err("zero".to_owned())
                    } else {
                        Ok(input + 1)
                    }
                },
            )
        })
    };
    assert_eq!(parse(0), Err("zero".to_owned()));
    assert_eq!(parse(0), Err("zero".to_owned()));
    assert_eq!(runs.get(), 2, "an error is returned, never stored");
    assert_eq!(parse(5), Ok(6));
    assert_eq!(parse(5), Ok(6));
    assert_eq!(runs.get(), 3);
    assert_eq!(store.stats().unwrap().entries, 1);
}

#[test]
fn option_none_is_stored() {
    let store = Store::temporary().unwrap();
    let site = site!("tests::find");
    let runs = Runs::default();
    let find = || {
        with_store(&store, || {
            call::<Plain<Option<u64>>>(site, &key(site, 1), memo_runtime::Share::typed(), || {
                runs.bump();
                None
            })
        })
    };
    assert_eq!(find(), None);
    assert_eq!(find(), None);
    assert_eq!(runs.get(), 1);
}

#[test]
fn results_expire_after_their_ttl() {
    let store = Store::temporary().unwrap();
    let site = site!(
        "tests::ttl",
        fingerprint = [1; 32],
        ttl = Some(1),
        tags = &[]
    );
    let runs = Runs::default();
    square(&store, site, 2, &runs);
    square(&store, site, 2, &runs);
    assert_eq!(runs.get(), 1);
    let entry = &store.entries().unwrap()[0];
    let ttl = entry
        .expires
        .unwrap()
        .duration_since(entry.created)
        .unwrap();
    assert_eq!(ttl, Duration::from_secs(1));
    thread::sleep(Duration::from_millis(1100));
    square(&store, site, 2, &runs);
    assert_eq!(runs.get(), 2, "an expired result is recomputed");
    assert_eq!(store.stats().unwrap().evictions, 1);
}

#[test]
fn bypass_runs_uncached_and_stores_nothing() {
    let store = Store::temporary().unwrap();
    let site = site!("tests::bypass");
    let runs = Runs::default();
    bypass(|| {
        square(&store, site, 4, &runs);
        square(&store, site, 4, &runs);
    });
    assert_eq!(runs.get(), 2);
    assert_eq!(store.stats().unwrap().entries, 0);
    square(&store, site, 4, &runs);
    assert_eq!(runs.get(), 3, "bypass ends with its closure");
}

#[test]
fn refresh_recomputes_and_overwrites() {
    let store = Store::temporary().unwrap();
    let site = site!("tests::refresh");
    let mut version = 1;
    let mut get = |bump: bool| {
        with_store(&store, || {
            call::<Plain<u64>>(site, &key(site, 0), memo_runtime::Share::typed(), || {
                if bump {
                    version += 1;
                }
                version
            })
        })
    };
    assert_eq!(get(false), 1);
    assert_eq!(get(true), 1, "a hit: the body does not run");
    assert_eq!(refresh(|| get(true)), 2, "refresh runs the body");
    assert_eq!(get(true), 2, "and its result replaced the stored one");
}

#[test]
fn with_store_routes_calls_per_thread() {
    let a = Store::temporary().unwrap();
    let b = Store::temporary().unwrap();
    let site = site!("tests::routes");
    let runs = Runs::default();
    square(&a, site, 1, &runs);
    square(&b, site, 1, &runs);
    assert_eq!(runs.get(), 2, "each store has its own results");
    assert_eq!(a.stats().unwrap().entries, 1);
    assert_eq!(b.stats().unwrap().entries, 1);
}

#[test]
fn identical_results_share_one_blob() {
    let store = Store::temporary().unwrap();
    let site = site!("tests::constant");
    for x in 0..5 {
        with_store(&store, || {
            call::<Plain<String>>(site, &key(site, x), memo_runtime::Share::typed(), || {
                "same".repeat(100)
            })
        });
    }
    let stats = store.stats().unwrap();
    assert_eq!((stats.entries, stats.blobs), (5, 1));
}

#[test]
fn small_results_live_inside_their_entry() {
    let store = Store::temporary().unwrap();
    let site = site!("tests::small");
    let runs = Runs::default();
    for x in 0..5 {
        square(&store, site, x, &runs);
    }
    let stats = store.stats().unwrap();
    assert_eq!((stats.entries, stats.blobs), (5, 0), "no blob for a u64");
    let entry = &store.entries().unwrap()[0];
    let bytes = store.result(&entry.key).unwrap().unwrap();
    assert_eq!(memo_runtime::Digest::of_bytes(&bytes), entry.output);
}

#[test]
fn concurrent_calls_compute_once() {
    let store = Store::temporary().unwrap();
    let site = site!("tests::slow");
    let runs = Runs::default();
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (store, runs, barrier) = (store.clone(), runs.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                with_store(&store, || {
                    call::<Plain<u64>>(site, &key(site, 9), memo_runtime::Share::typed(), || {
                        runs.bump();
                        thread::sleep(Duration::from_millis(200));
                        81
                    })
                })
            })
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap(), 81);
    }
    assert_eq!(runs.get(), 1, "eight concurrent callers, one computation");
    let stats = store.stats().unwrap();
    assert_eq!((stats.hits, stats.misses), (7, 1));
}

#[test]
fn a_panicking_leader_hands_over_to_a_waiter() {
    let store = Store::temporary().unwrap();
    let site = site!("tests::flaky");
    let runs = Runs::default();
    let started = Arc::new(Barrier::new(2));
    let leader = {
        let (store, runs, started) = (store.clone(), runs.clone(), started.clone());
        thread::spawn(move || {
            with_store(&store, || {
                call::<Plain<u64>>(site, &key(site, 1), memo_runtime::Share::typed(), || {
                    runs.bump();
                    started.wait();
                    thread::sleep(Duration::from_millis(200));
                    panic!("the first attempt fails");
                })
            })
        })
    };
    started.wait();
    let value = with_store(&store, || {
        call::<Plain<u64>>(site, &key(site, 1), memo_runtime::Share::typed(), || {
            runs.bump();
            5
        })
    });
    assert!(leader.join().is_err());
    assert_eq!(value, 5);
    assert_eq!(runs.get(), 2);
}

#[test]
fn a_value_that_no_longer_decodes_is_recomputed() {
    let store = Store::temporary().unwrap();
    // Same name, fingerprint and arguments: the same key, read as a different type.
    let old = site!("tests::shape");
    let new = site!("tests::shape");
    with_store(&store, || {
        call::<Plain<u64>>(old, &key(old, 1), memo_runtime::Share::typed(), || 7)
    });
    let runs = Runs::default();
    let text = with_store(&store, || {
        call::<Plain<String>>(new, &key(new, 1), memo_runtime::Share::typed(), || {
            runs.bump();
            "seven".to_owned()
        })
    });
    assert_eq!(text, "seven");
    assert_eq!(runs.get(), 1);
    let again = with_store(&store, || {
        call::<Plain<String>>(new, &key(new, 1), memo_runtime::Share::typed(), || {
            unreachable!("overwritten above")
        })
    });
    assert_eq!(again, "seven");
}

#[test]
fn an_uncacheable_key_runs_uncached_with_a_warning() {
    let store = Store::temporary().unwrap();
    let site = site!("tests::unreadable_input");
    let runs = Runs::default();
    let run = || {
        with_store(&store, || {
            let mut h = key(site, 1);
            h.mark_uncacheable("could not read input.csv");
            call::<Plain<u64>>(site, &h, memo_runtime::Share::typed(), || {
                runs.bump();
                1
            })
        })
    };
    let (_, logged) = support::warnings(|| {
        run();
        run();
    });
    assert_eq!(runs.get(), 2);
    assert_eq!(store.stats().unwrap().entries, 0);
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert!(logged[0].contains("could not read input.csv"), "{logged:?}");
}

#[test]
fn memo_inputs_are_recorded_as_lineage() {
    let store = Store::temporary().unwrap();
    let site = site!("tests::consumer");
    let input = memo_runtime::Digest([7; 32]);
    let key = store.clone();
    with_store(&key, || {
        let mut h = site.hasher();
        h.record_input(input);
        call::<Plain<u8>>(site, &h, memo_runtime::Share::typed(), || 1)
    });
    let entry = &store.entries().unwrap()[0];
    assert_eq!(entry.inputs, vec![input]);
    assert_eq!(store.consumers(&input).unwrap(), vec![entry.key]);
}

#[test]
fn a_refresh_on_one_thread_reaches_the_others() {
    let store = Store::temporary().unwrap();
    let site = site!("tests::shared_refresh");
    let value = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1));
    let get = |store: &Store, value: &std::sync::atomic::AtomicU64| {
        with_store(store, || {
            call::<Plain<u64>>(site, &key(site, 0), memo_runtime::Share::typed(), || {
                value.load(std::sync::atomic::Ordering::SeqCst)
            })
        })
    };
    assert_eq!(get(&store, &value), 1);
    assert_eq!(get(&store, &value), 1, "now in this thread's tier");
    value.store(2, std::sync::atomic::Ordering::SeqCst);
    let (other_store, other_value) = (store.clone(), value.clone());
    let refreshed = thread::spawn(move || refresh(|| get(&other_store, &other_value)))
        .join()
        .unwrap();
    assert_eq!(refreshed, 2);
    assert_eq!(
        get(&store, &value),
        2,
        "the refresh replaced this thread's copy too"
    );
}

#[test]
fn an_uncacheable_key_is_never_answered_from_memory() {
    let store = Store::temporary().unwrap();
    let site = site!("tests::sometimes_unreadable");
    let runs = Runs::default();
    square(&store, site, 4, &runs);
    square(&store, site, 4, &runs);
    assert_eq!(runs.get(), 1, "cached, and now held in memory");
    let value = with_store(&store, || {
        let mut h = key(site, 4);
        h.mark_uncacheable("its input could not be read this time");
        call::<Plain<u64>>(site, &h, memo_runtime::Share::typed(), || {
            runs.bump();
            16
        })
    });
    assert_eq!(value, 16);
    assert_eq!(runs.get(), 2, "the same stream, but no key: the body runs");
}

// Every test above again, on the sled engine.
memo_runtime::suite_again_on_sled!();
