//! The shared tier against real Redis servers: the one on 127.0.0.1:6379 (each test in a
//! namespace of its own; none flushes it) and private `redis-server`s started on other
//! ports for the faults, stopped by pid.

mod support;

use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use memo_runtime::{RemoteConfig, Store, with_store};
use support::shared::{
    SERVER, Server, computed, config, free_port, keys, machine, namespace, redis, said, store,
};
use support::{Runs, key, square};

#[test]
fn a_result_computed_by_one_store_is_a_remote_hit_and_a_backfill_in_another() {
    let ns = namespace();
    let writer = store(config(SERVER, &ns, true));
    let runs = Runs::default();
    let site = site!("shared::square");
    for x in 0..20 {
        assert_eq!(square(&writer, site, x, &runs), x * x);
    }
    writer.flush_shared(Duration::from_secs(5));
    assert_eq!(keys(SERVER, &ns).len(), 20);
    assert_eq!(writer.remote_stats().unwrap().writes, 20);

    // Another machine: its own local store, empty; the tier answers, and fills it.
    let reader = store(config(SERVER, &ns, false));
    let theirs = Runs::default();
    for x in 0..20 {
        assert_eq!(square(&reader, site, x, &theirs), x * x);
    }
    assert_eq!(theirs.get(), 0, "every call a remote hit");
    let stats = reader.remote_stats().unwrap();
    assert_eq!((stats.hits, stats.misses, stats.writes), (20, 0, 0));
    assert_eq!(reader.stats().unwrap().entries, 20, "backfilled");
    // With what the value says of its call: the same identity as the writer's entries.
    let calls = |store: &Store| {
        let mut calls: Vec<_> = store.entries().unwrap().iter().map(|e| e.call).collect();
        calls.sort();
        calls
    };
    assert!(calls(&reader).iter().all(Option::is_some));
    assert_eq!(calls(&reader), calls(&writer));
    // Backfilled: the next calls are local hits, the tier is not asked again.
    memo_runtime::set_memory_budget(0);
    for x in 0..20 {
        assert_eq!(square(&reader, site, x, &theirs), x * x);
    }
    memo_runtime::set_memory_budget(64 << 20);
    assert_eq!(reader.remote_stats().unwrap().hits, 20);
    assert_eq!(theirs.get(), 0);
}

#[test]
fn a_read_only_store_writes_nothing() {
    let ns = namespace();
    let reader = store(config(SERVER, &ns, false));
    let runs = Runs::default();
    for x in 0..5 {
        square(&reader, site!("shared::ro"), x, &runs);
    }
    reader.flush_shared(Duration::from_secs(5));
    assert_eq!(runs.get(), 5);
    assert!(keys(SERVER, &ns).is_empty(), "{:?}", keys(SERVER, &ns));
    let stats = reader.remote_stats().unwrap();
    assert_eq!((stats.misses, stats.writes), (5, 0));
}

#[test]
fn a_tampered_value_or_another_secret_is_a_miss_and_is_left_alone() {
    let ns = namespace();
    let site = site!("shared::tampered");
    let writer = store(config(SERVER, &ns, true));
    square(&writer, site, 7, &Runs::default());
    writer.flush_shared(Duration::from_secs(5));
    let names = keys(SERVER, &ns);
    assert_eq!(names.len(), 1);

    // Another team's secret: the value does not check out.
    let stranger = store(config(SERVER, &ns, false).secret(b"another secret".to_vec()));
    let runs = Runs::default();
    assert_eq!(square(&stranger, site, 7, &runs), 49);
    assert_eq!(runs.get(), 1, "computed, not taken from the tier");
    assert_eq!(stranger.remote_stats().unwrap().mac_failures, 1);

    // One byte of the payload changed on the server.
    let mut con = redis(SERVER);
    let mut value: Vec<u8> = redis::cmd("GET").arg(&names[0]).query(&mut con).unwrap();
    let at = value.len() - 40;
    value[at] ^= 0x01;
    let _: () = redis::cmd("SET")
        .arg(&names[0])
        .arg(&value)
        .query(&mut con)
        .unwrap();
    let reader = store(config(SERVER, &ns, false));
    let runs = Runs::default();
    assert_eq!(square(&reader, site, 7, &runs), 49);
    assert_eq!(runs.get(), 1);
    let stats = reader.remote_stats().unwrap();
    assert_eq!((stats.hits, stats.misses, stats.mac_failures), (0, 1, 1));
    let after: Vec<u8> = redis::cmd("GET").arg(&names[0]).query(&mut con).unwrap();
    assert_eq!(after, value, "not deleted: it may be someone else's");
}

#[test]
fn a_value_past_the_size_cap_stays_local() {
    let ns = namespace();
    let writer = store(config(SERVER, &ns, true).max_value_bytes(4));
    square(&writer, site!("shared::capped"), 1 << 20, &Runs::default()); // 6 bytes encoded
    square(&writer, site!("shared::capped"), 1, &Runs::default());
    writer.flush_shared(Duration::from_secs(5));
    let stats = writer.remote_stats().unwrap();
    assert_eq!((stats.oversize, stats.writes), (1, 1), "{stats:?}");
    assert_eq!(keys(SERVER, &ns).len(), 1);
}

#[test]
fn a_ttl_is_the_values_expiry_on_the_server_and_no_ttl_a_default_one() {
    let ns = namespace();
    let writer = store(config(SERVER, &ns, true).default_expiry(Duration::from_secs(3600)));
    let expiring = site!(
        "shared::ttl",
        fingerprint = [2; 32],
        ttl = Some(2),
        tags = &[]
    );
    square(&writer, expiring, 3, &Runs::default());
    square(&writer, site!("shared::lasting"), 3, &Runs::default());
    writer.flush_shared(Duration::from_secs(5));
    let mut con = redis(SERVER);
    let ttls: Vec<i64> = keys(SERVER, &ns)
        .iter()
        .map(|name| redis::cmd("PTTL").arg(name).query(&mut con).unwrap())
        .collect();
    let (short, long) = (ttls.iter().min().unwrap(), ttls.iter().max().unwrap());
    assert!(*short > 0 && *short <= 2000, "{ttls:?}");
    assert!(*long > 3_000_000 && *long <= 3_600_000, "{ttls:?}");
    // Past its ttl the server has dropped it: another store computes it again.
    std::thread::sleep(Duration::from_millis(2100));
    let reader = store(config(SERVER, &ns, false));
    let runs = Runs::default();
    assert_eq!(square(&reader, expiring, 3, &runs), 9);
    assert_eq!(runs.get(), 1);
    assert_eq!(keys(SERVER, &ns).len(), 1);
}

#[test]
fn a_closed_port_costs_calls_a_bounded_wait_and_one_warning() {
    let url = format!("redis://127.0.0.1:{}/0", free_port());
    let (slowest, logged) = support::warnings(|| {
        let store = store(config(&url, &namespace(), true));
        let runs = Runs::default();
        let mut slowest = Duration::ZERO;
        for x in 0..200 {
            let start = Instant::now();
            assert_eq!(square(&store, site!("shared::closed"), x, &runs), x * x);
            slowest = slowest.max(start.elapsed());
        }
        store.flush_shared(Duration::from_secs(2));
        let stats = store.remote_stats().unwrap();
        assert!(stats.breaker_open, "{stats:?}");
        assert!(
            stats.errors >= 1 && stats.errors < 20,
            "the breaker skips the rest: {stats:?}"
        );
        assert_eq!(
            store.stats().unwrap().entries,
            200,
            "the local path is unchanged"
        );
        slowest
    });
    assert!(
        slowest < Duration::from_millis(400),
        "a call waited {slowest:?}"
    );
    let shared: Vec<&String> = logged
        .iter()
        .filter(|l| l.contains("shared tier"))
        .collect();
    assert_eq!(shared.len(), 1, "{logged:?}");
    assert!(shared[0].contains("cannot be reached"), "{shared:?}");
}

#[test]
fn a_server_killed_and_restarted_is_found_again() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}/0");
    let ns = namespace();
    let server = Server::start(port);
    let writer = store(config(&url, &ns, true));
    let site = site!("shared::restarted");
    square(&writer, site, 1, &Runs::default());
    writer.flush_shared(Duration::from_secs(5));
    assert_eq!(writer.remote_stats().unwrap().writes, 1);
    drop(server);

    // Down: every call still right, in bounded time.
    let runs = Runs::default();
    let start = Instant::now();
    for x in 2..50 {
        assert_eq!(square(&writer, site, x, &runs), x * x);
    }
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(writer.remote_stats().unwrap().errors >= 1);

    // Back (empty: it keeps nothing on disk). Once the backoff has passed, writes go
    // through again.
    let _server = Server::start(port);
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut x = 1_000;
    while writer.remote_stats().unwrap().breaker_open || keys(&url, &ns).is_empty() {
        assert!(Instant::now() < deadline, "{:?}", writer.remote_stats());
        square(&writer, site, x, &runs);
        x += 1;
        writer.flush_shared(Duration::from_secs(1));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!keys(&url, &ns).is_empty());
}

#[test]
fn a_config_without_a_secret_leaves_the_tier_off_with_one_warning() {
    let (stats, logged) = support::warnings(|| {
        let store = Store::temporary_builder()
            .remote(RemoteConfig::new(SERVER).read_write(true))
            .open()
            .unwrap();
        with_store(&store, || ());
        let site = site!("shared::nosecret");
        memo_runtime::with_store(&store, || {
            memo_runtime::call::<memo_runtime::Plain<u64>>(
                site,
                &key(site, 1),
                memo_runtime::Share::typed(),
                || 1,
            )
        });
        store.remote_stats()
    });
    assert!(stats.is_none());
    assert!(
        logged
            .iter()
            .any(|l| l.contains("is off") && l.contains("no secret")),
        "{logged:?}"
    );
}

/// An async call whose tier lookup is slow (the server is stopped: every read waits out
/// its timeout) leaves its executor free: a ticker task beside it is never held up.
#[test]
fn an_async_call_waits_for_the_tier_off_its_executor() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}/0");
    let server = Server::start(port);
    let reader = store(config(&url, &namespace(), false));
    // A connection made while the server answers, so the stop is felt as a read that
    // never returns, the slowest way the tier can fail.
    square(&reader, site!("shared::warm"), 1, &Runs::default());
    let pid = server.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let site = site!("shared::async");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (value, stalled) = runtime.block_on(async {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ticker = tokio::spawn({
            let done = std::sync::Arc::clone(&done);
            async move {
                let (mut longest, mut last) = (Duration::ZERO, Instant::now());
                while !done.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    longest = longest.max(last.elapsed());
                    last = Instant::now();
                }
                longest
            }
        });
        tokio::task::yield_now().await;
        let value = memo_runtime::with_store_async(&reader, async {
            memo_runtime::call_async::<memo_runtime::Plain<u64>>(
                site,
                &key(site, 5),
                memo_runtime::Share::typed(),
                async { 25u64 },
            )
            .await
        })
        .await;
        done.store(true, Ordering::Relaxed);
        (value, ticker.await.unwrap())
    });
    assert!(
        Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(value, 25);
    assert!(
        reader.remote_stats().unwrap().errors >= 1,
        "the read timed out"
    );
    assert!(
        stalled < Duration::from_millis(150),
        "the executor was held {stalled:?}"
    );
}

/// Results of about 20 KiB encoded.
fn rows(store: &Store, x: u64, runs: &Runs) -> Vec<u8> {
    let site = site!("shared::rows");
    with_store(store, || {
        memo_runtime::call::<memo_runtime::Plain<Vec<u8>>>(
            site,
            &key(site, x),
            memo_runtime::Share::typed(),
            || {
                runs.bump();
                (0..20_000).map(|i| (i as u64 * 31 + x) as u8).collect()
            },
        )
    })
}

#[test]
fn a_full_server_refuses_writes_and_every_call_stays_right() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}/0");
    let _server = Server::with(
        port,
        &["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"],
    );
    let ns = namespace();
    let (stats, logged) = support::warnings(|| {
        let writer = store(config(&url, &ns, true));
        let runs = Runs::default();
        for x in 0..300 {
            assert_eq!(rows(&writer, x, &runs)[7], (7 * 31 + x) as u8);
        }
        writer.flush_shared(Duration::from_secs(10));
        assert_eq!(
            writer.stats().unwrap().entries,
            300,
            "every result kept locally"
        );
        writer.remote_stats().unwrap()
    });
    assert!(
        stats.writes > 0 && stats.errors > 0,
        "some fit, the rest were refused: {stats:?}"
    );
    assert!(!stats.breaker_open, "a full server is up: {stats:?}");
    // The refusal is said where it happens, on the writer's thread, once.
    let _ = logged;
    // What the server holds still serves another store; the rest is computed there.
    let reader = store(config(&url, &ns, false));
    let runs = Runs::default();
    for x in 0..300 {
        assert_eq!(rows(&reader, x, &runs)[7], (7 * 31 + x) as u8);
    }
    assert_eq!(runs.get() as u64, 300 - reader.remote_stats().unwrap().hits);
    assert_eq!(reader.remote_stats().unwrap().hits, stats.writes);
}

#[test]
fn a_server_that_evicts_loses_values_never_correctness() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}/0");
    let _server = Server::with(
        port,
        &["--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru"],
    );
    let ns = namespace();
    let writer = store(config(&url, &ns, true));
    let runs = Runs::default();
    for x in 0..300 {
        rows(&writer, x, &runs);
    }
    writer.flush_shared(Duration::from_secs(10));
    let stats = writer.remote_stats().unwrap();
    assert_eq!((stats.writes, stats.errors), (300, 0), "{stats:?}");
    let held = keys(&url, &ns).len();
    assert!(held > 0 && held < 300, "the server evicted some: {held}");
    let reader = store(config(&url, &ns, false));
    let runs = Runs::default();
    for x in 0..300 {
        assert_eq!(rows(&reader, x, &runs)[7], (7 * 31 + x) as u8);
    }
    let hits = reader.remote_stats().unwrap().hits;
    assert!(hits > 0, "what was left was shared");
    assert_eq!(runs.get() as u64, 300 - hits);
}

#[test]
#[ignore = "run by a parent test in a child process"]
fn child_machine_computes_the_shared_key() {
    support::shared::child_machine();
}

#[test]
fn eight_machines_missing_one_key_at_once_compute_it_once() {
    let total = support::shared::machines_on_one_key(SERVER, &namespace(), 8, 300);
    assert_eq!(total, 1, "one machine computed, the others took its value");
}

#[test]
fn when_the_machine_holding_the_lock_dies_another_takes_over() {
    let ns = namespace();
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    std::fs::write(&go, "").unwrap();
    // The first machine takes the lock and computes for a long time.
    let mut first = machine(SERVER, &ns, &go, 60_000);
    let _out = said(&mut first, "computing");
    let others: Vec<_> = (0..3)
        .map(|_| {
            let mut child = machine(SERVER, &ns, &go, 200);
            let out = said(&mut child, "ready");
            (child, out)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    first.kill().unwrap(); // SIGKILL: its lock is never let go of, only no longer renewed
    first.wait().unwrap();
    let start = Instant::now();
    let total: u64 = others.into_iter().map(|(c, out)| computed(c, out)).sum();
    assert_eq!(
        total, 1,
        "one of the others took over, the rest waited for it"
    );
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
}

/// How many of the namespace's values are on the server.
fn values(url: &str, namespace: &str) -> usize {
    keys(url, namespace).len()
}

#[test]
fn invalidations_gc_and_clear_reach_the_tier_for_the_namespace() {
    let ns = namespace();
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Store::builder(dir.path())
            .remote(config(SERVER, &ns, true))
            .open()
            .unwrap()
    };
    let tagged = site!(
        "shared::tagged",
        fingerprint = [5; 32],
        ttl = None,
        tags = &["ml"]
    );
    let plain = site!("shared::plain");
    let old = site!(
        "shared::versioned",
        fingerprint = [6; 32],
        ttl = None,
        tags = &[]
    );
    let new = site!(
        "shared::versioned",
        fingerprint = [7; 32],
        ttl = None,
        tags = &[]
    );
    let runs = Runs::default();
    {
        let writer = open();
        for x in 0..5 {
            square(&writer, tagged, x, &runs);
            square(&writer, plain, x, &runs);
            square(&writer, old, x, &runs);
        }
    }
    // A later run, with a new version of `versioned`: the store's current fingerprint.
    let writer = open();
    for x in 0..5 {
        square(&writer, new, x, &runs);
    }
    writer.flush_shared(Duration::from_secs(5));
    assert_eq!(values(SERVER, &ns), 20);

    // Another machine sharing the tier sees each removal as a miss.
    let remote_hit = |site, x| {
        let reader = store(config(SERVER, &ns, false));
        let runs = Runs::default();
        square(&reader, site, x, &runs);
        runs.get() == 0
    };
    assert!(remote_hit(tagged, 1) && remote_hit(old, 1));

    assert_eq!(writer.invalidate_tag("ml").unwrap(), 5);
    assert_eq!(values(SERVER, &ns), 15);
    assert!(
        !remote_hit(tagged, 1),
        "the tagged values are gone from the tier"
    );
    assert!(remote_hit(plain, 1));

    let gc = writer.gc(&memo_runtime::Gc::new().stale()).unwrap();
    assert_eq!(gc.entries_removed, 5);
    assert_eq!(
        values(SERVER, &ns),
        10,
        "the old version's values went, the new stay"
    );
    assert!(!remote_hit(old, 2), "the old version is gone");
    assert!(remote_hit(new, 2), "the new version stays");

    assert_eq!(writer.invalidate_fn("shared::plain").unwrap(), 5);
    assert_eq!(values(SERVER, &ns), 5);

    writer.clear().unwrap();
    assert_eq!(values(SERVER, &ns), 0);
    assert!(!remote_hit(new, 3));
}

#[test]
fn a_read_only_machine_never_removes_anything_from_the_tier() {
    let ns = namespace();
    let writer = store(config(SERVER, &ns, true));
    let site = site!(
        "shared::kept",
        fingerprint = [8; 32],
        ttl = None,
        tags = &["t"]
    );
    for x in 0..3 {
        square(&writer, site, x, &Runs::default());
    }
    writer.flush_shared(Duration::from_secs(5));
    let reader = store(config(SERVER, &ns, false));
    for x in 0..3 {
        square(&reader, site, x, &Runs::default());
    }
    assert_eq!(reader.invalidate_tag("t").unwrap(), 3, "its own copies go");
    reader.clear().unwrap();
    assert_eq!(values(SERVER, &ns), 3, "the tier keeps them");
}

#[test]
fn push_sends_a_stores_entries_and_pull_fills_another_store_with_them() {
    let ns = namespace();
    let from_dir = tempfile::tempdir().unwrap();
    let tagged = site!(
        "shared::pushed",
        fingerprint = [9; 32],
        ttl = None,
        tags = &["ml"]
    );
    {
        // Computed before the tier was there.
        let local = Store::open(from_dir.path()).unwrap();
        for x in 0..20 {
            square(&local, tagged, x, &Runs::default());
            rows(&local, x, &Runs::default());
        }
    }
    let from = Store::builder(from_dir.path())
        .remote(config(SERVER, &ns, true))
        .open()
        .unwrap();
    let mut seen = 0;
    let pushed = from
        .push_shared(&mut |done, total| seen = done.max(seen).min(total))
        .unwrap();
    assert_eq!((pushed.moved, pushed.already, pushed.skipped), (40, 0, 0));
    assert_eq!(seen, 40);
    assert_eq!(keys(SERVER, &ns).len(), 40);
    let again = from.push_shared(&mut |_, _| {}).unwrap();
    assert_eq!((again.moved, again.already), (0, 40));
    drop(from);

    // Another machine pulls them all, then has them without the tier.
    let to_dir = tempfile::tempdir().unwrap();
    {
        let to = Store::builder(to_dir.path())
            .remote(config(SERVER, &ns, false))
            .open()
            .unwrap();
        let pulled = to.pull_shared(&mut |_, _| {}).unwrap();
        assert_eq!((pulled.moved, pulled.already), (40, 0));
        assert_eq!(to.pull_shared(&mut |_, _| {}).unwrap().already, 40);
        let read_only = to.push_shared(&mut |_, _| {}).unwrap_err();
        assert!(
            read_only.to_string().contains("MEMO_REMOTE_MODE=rw"),
            "{read_only}"
        );
    }
    let to = Store::open(to_dir.path()).unwrap();
    let runs = Runs::default();
    for x in 0..20 {
        assert_eq!(square(&to, tagged, x, &runs), x * x);
        assert_eq!(rows(&to, x, &runs)[7], (7 * 31 + x) as u8);
    }
    assert_eq!(runs.get(), 0, "every pulled entry is a local hit");
    assert_eq!(to.invalidate_tag("ml").unwrap(), 20, "with its tags");
    assert!(to.verify(&mut |_, _| {}).unwrap().is_clean());
}

/// A burst of misses: every value reaches the server (the writer sends what queued in one
/// pipeline), nothing is dropped, and no lock is left behind to hold other machines up.
#[test]
fn a_burst_of_misses_reaches_the_tier_whole_and_leaves_no_lock() {
    let ns = namespace();
    let writer = store(config(SERVER, &ns, true));
    let site = site!("shared::burst");
    for x in 0..3000 {
        square(&writer, site, x, &Runs::default());
    }
    writer.flush_shared(Duration::from_secs(20));
    let stats = writer.remote_stats().unwrap();
    assert_eq!(
        (stats.writes, stats.dropped, stats.errors),
        (3000, 0, 0),
        "{stats:?}"
    );
    assert_eq!(keys(SERVER, &ns).len(), 3000);
    let locks: Vec<String> = redis::cmd("KEYS")
        .arg(format!("memo:{ns}:lock:*"))
        .query(&mut redis(SERVER))
        .unwrap();
    assert!(locks.is_empty(), "{} locks left", locks.len());
}

/// A function that computes faster than the tier answers is not worth a lookup: after its
/// first call it is computed on a local miss without asking, and never written; a slow one
/// is shared as before.
#[test]
fn a_function_faster_than_a_lookup_is_computed_without_asking_the_tier() {
    let ns = namespace();
    let by_default = || {
        RemoteConfig::new(SERVER)
            .namespace(&ns)
            .read_write(true)
            .secret(b"the team's secret".to_vec())
            .default_expiry(Duration::from_secs(300))
    };
    let writer = store(by_default());
    let fast = site!("shared::fast");
    for x in 0..50 {
        assert_eq!(square(&writer, fast, x, &Runs::default()), x * x);
    }
    writer.flush_shared(Duration::from_secs(5));
    let stats = writer.remote_stats().unwrap();
    // The first call asked; after it, every call but those a descheduling made look slow
    // (a computation's time moves its average by a quarter) is computed without asking —
    // on this 2-core machine under a parallel test run, at most a couple.
    assert!(
        stats.misses <= 3 && stats.misses + stats.fast_skipped == 50 && stats.writes < stats.misses,
        "only the first call asked, but for a rare slow one: {stats:?}"
    );
    assert!(keys(SERVER, &ns).len() < 3);

    // A slow function (150 ms, against a lookup of well under one here — 20 lookups must
    // stay under it even when a loaded machine slows them) is shared.
    let slow = site!("shared::slow_enough");
    let slow_square = |store: &Store, x: u64, runs: &Runs| {
        with_store(store, || {
            memo_runtime::call::<memo_runtime::Plain<u64>>(
                slow,
                &support::key(slow, x),
                memo_runtime::Share::typed(),
                || {
                    runs.bump();
                    std::thread::sleep(Duration::from_millis(150));
                    x * x
                },
            )
        })
    };
    for x in 0..5 {
        slow_square(&writer, x, &Runs::default());
    }
    writer.flush_shared(Duration::from_secs(5));
    assert_eq!(writer.remote_stats().unwrap().writes, 5);
    let reader = store(by_default());
    let runs = Runs::default();
    for x in 0..5 {
        assert_eq!(slow_square(&reader, x, &runs), x * x);
    }
    assert_eq!(runs.get(), 0, "remote hits");

    // A threshold set by hand: the fast function is shared too.
    let everything = store(by_default().min_compute(Duration::ZERO));
    for x in 100..110 {
        square(&everything, fast, x, &Runs::default());
    }
    everything.flush_shared(Duration::from_secs(5));
    assert_eq!(everything.remote_stats().unwrap().writes, 10);
}

/// What the tier did is kept in the store across runs, with the counts of the processes
/// the store's holder served.
#[test]
fn the_tiers_counts_are_kept_across_runs_and_processes() {
    let ns = namespace();
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Store::builder(dir.path())
            .remote(config(SERVER, &ns, true))
            .open()
            .unwrap()
    };
    {
        let first = open();
        for x in 0..5 {
            square(&first, site!("shared::counted"), x, &Runs::default());
        }
        first.flush_shared(Duration::from_secs(5));
    }
    let holder = open();
    let counted = holder.stats().unwrap().remote;
    assert_eq!((counted.misses, counted.writes), (5, 5), "{counted:?}");

    // A process reaching the store through this one: its counts come to the holder.
    let go = dir.path().join("go");
    std::fs::write(&go, "").unwrap();
    let mut child = support::shared::machine_in(SERVER, &ns, &go, 10, dir.path());
    let out = said(&mut child, "ready");
    assert_eq!(computed(child, out), 1);
    let counted = holder.stats().unwrap().remote;
    assert_eq!(
        (counted.misses, counted.writes),
        (6, 6),
        "the child's miss and write are in: {counted:?}"
    );
    holder.flush().unwrap();
    drop(holder);
    let later = Store::open(dir.path()).unwrap();
    assert_eq!(later.stats().unwrap().remote.writes, 6, "persisted");
}
