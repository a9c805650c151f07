//! The shared tier on the Redis server at 127.0.0.1:6379, side by side with the same
//! client's raw commands: a remote hit (a local miss, the `GET`, the MAC check, the
//! backfill into the local store, the decode) against a raw `GET` of the same bytes; a
//! miss with the tier read-write and read-only against one without a tier; a miss
//! while the breaker is open (the server gone); and `memo remote push` of a store of
//! 100,000 entries, as entries a second.
//!
//! ```sh
//! cargo bench --bench shared
//! ```

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use memo::{RemoteConfig, Store, cached};

const SERVER: &str = "redis://127.0.0.1:6379/0";
const KEYS: u64 = 2_000;

#[cached]
fn square(x: u64) -> u64 {
    x.wrapping_mul(x)
}

/// A function of 10 ms, spinning (a sleep's wake-up would blur the figure): slow enough
/// to share (20 lookups take 2–4 ms here).
#[cached]
fn ten_ms(x: u64) -> u64 {
    let until = Instant::now() + Duration::from_millis(10);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
    x
}

/// The tier in `namespace`, sharing every function however fast (`square` is a few ns):
/// what the tier's own paths cost.
fn config(namespace: &str, read_write: bool) -> RemoteConfig {
    by_default(namespace, read_write).min_compute(Duration::ZERO)
}

/// The tier as a user gets it: functions faster than 20 lookups are not shared.
fn by_default(namespace: &str, read_write: bool) -> RemoteConfig {
    RemoteConfig::new(SERVER)
        .namespace(namespace)
        .read_write(read_write)
        .secret(b"bench secret".to_vec())
        .default_expiry(Duration::from_secs(600))
}

fn namespace(what: &str) -> String {
    format!("memo-bench-{what}-{}", std::process::id())
}

fn store(remote: Option<RemoteConfig>) -> Store {
    let builder = Store::temporary_builder().in_memory_tier(false);
    match remote {
        Some(remote) => builder.remote(remote),
        None => builder,
    }
    .open()
    .unwrap()
}

fn remote_hit(c: &mut Criterion) {
    let ns = namespace("hit");
    let writer = store(Some(config(&ns, true)));
    memo::with_store(&writer, || {
        for x in 0..KEYS {
            black_box(square(x));
        }
    });
    writer.flush_shared(Duration::from_secs(10));
    let mut con = redis::Client::open(SERVER)
        .unwrap()
        .get_connection()
        .unwrap();
    let mut names: Vec<String> = redis::cmd("KEYS")
        .arg(format!("memo:{ns}:*"))
        .query(&mut con)
        .unwrap();
    // The values alone: not the indexes, nor a lock whose release is still queued.
    names.retain(|name| !name.contains(":index:") && !name.contains(":lock:"));
    assert_eq!(names.len() as u64, KEYS);

    let mut group = c.benchmark_group("remote_hit_u64");
    group.bench_function("memo", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                // A machine that has none of them: every call a remote hit.
                let reader = store(Some(config(&ns, false)));
                let take = (iters - done).min(KEYS);
                let start = Instant::now();
                memo::with_store(&reader, || {
                    for x in 0..take {
                        black_box(square(black_box(x)));
                    }
                });
                spent += start.elapsed();
                done += take;
            }
            spent
        })
    });
    let mut i = 0;
    group.bench_function("raw_get", |b| {
        b.iter(|| {
            i = (i + 1) % names.len();
            redis::cmd("GET")
                .arg(&names[i])
                .query::<Option<Vec<u8>>>(&mut con)
                .unwrap()
        })
    });
    group.finish();
}

fn miss(c: &mut Criterion) {
    let next = AtomicU64::new(1 << 40);
    let fresh = || next.fetch_add(1, Ordering::Relaxed);
    let plain = store(None);
    let read_write = store(Some(config(&namespace("rw"), true)));
    let read_only = store(Some(config(&namespace("ro"), false)));
    let as_given = store(Some(by_default(&namespace("default"), true)));
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = unused.local_addr().unwrap().port();
    drop(unused);
    let gone = store(Some(
        RemoteConfig::new(format!("redis://127.0.0.1:{port}/0"))
            .read_write(true)
            .secret(b"s".to_vec()),
    ));
    // The first call finds the server gone and opens the breaker.
    memo::with_store(&gone, || square(fresh()));

    let mut group = c.benchmark_group("miss_with_tier_u64");
    for (name, store) in [
        ("no_tier", &plain),
        ("tier_read_write", &read_write),
        ("tier_read_only", &read_only),
        ("tier_by_default", &as_given),
        ("tier_breaker_open", &gone),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| memo::with_store(store, || square(black_box(fresh()))))
        });
    }
    group.finish();
    read_write.flush_shared(Duration::from_secs(10));

    // What a call pays the open breaker, alone: each tier operation of a miss (lookup,
    // lock, write) checks it once, as this does.
    let mut group = c.benchmark_group("breaker_open_check");
    group.bench_function("ping_remote", |b| b.iter(|| black_box(gone.ping_remote())));
    group.finish();

    // A function slow enough to share: what the lookup and the lock add to its miss.
    let mut group = c.benchmark_group("miss_with_tier_10ms");
    group.sample_size(20);
    for (name, store) in [("no_tier", &plain), ("tier_by_default", &as_given)] {
        group.bench_function(name, |b| {
            b.iter(|| memo::with_store(store, || ten_ms(black_box(fresh()))))
        });
    }
    group.finish();
    as_given.flush_shared(Duration::from_secs(10));
}

const PUSHED: u64 = 100_000;

/// Removes what a push left on the shared server: every value its index names, and the
/// indexes.
fn forget(namespace: &str) {
    let mut con = redis::Client::open(SERVER)
        .unwrap()
        .get_connection()
        .unwrap();
    let all = format!("memo:{namespace}:index:all");
    let names: Vec<String> = redis::cmd("SMEMBERS").arg(&all).query(&mut con).unwrap();
    for chunk in names.chunks(1000) {
        let _: () = redis::cmd("UNLINK").arg(chunk).query(&mut con).unwrap();
    }
    let indexes: Vec<String> = redis::cmd("KEYS")
        .arg(format!("memo:{namespace}:index:*"))
        .query(&mut con)
        .unwrap();
    if !indexes.is_empty() {
        let _: () = redis::cmd("UNLINK").arg(&indexes).query(&mut con).unwrap();
    }
}

fn push(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    {
        let local = Store::open(dir.path()).unwrap();
        memo::with_store(&local, || {
            for x in 0..PUSHED {
                black_box(square(x));
            }
        });
    }
    let mut group = c.benchmark_group("remote_push_100k");
    group.sample_size(10);
    group.throughput(criterion::Throughput::Elements(PUSHED));
    let mut round = 0;
    group.bench_function("memo", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                // A fresh namespace each time: every entry is new on the server.
                round += 1;
                let ns = namespace(&format!("push{round}"));
                let store = Store::builder(dir.path())
                    .remote(config(&ns, true))
                    .open()
                    .unwrap();
                let start = Instant::now();
                let report = store.push_shared(&mut |_, _| {}).unwrap();
                spent += start.elapsed();
                assert_eq!(report.moved, PUSHED);
                forget(&ns);
            }
            spent
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = remote_hit, miss, push
}
criterion_main!(benches);
