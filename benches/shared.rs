//! The shared tier on the Redis server at 127.0.0.1:6379, side by side with the same
//! client's raw commands: a remote hit (a local miss, the `GET`, the MAC check, the
//! backfill into the local store, the decode) against a raw `GET` of the same bytes; a
//! miss with the tier read-write and read-only against one without a tier; and a miss
//! while the breaker is open (the server gone).
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

fn config(namespace: &str, read_write: bool) -> RemoteConfig {
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
    let names: Vec<String> = redis::cmd("KEYS")
        .arg(format!("memo:{ns}:*"))
        .query(&mut con)
        .unwrap();
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
        ("tier_breaker_open", &gone),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| memo::with_store(store, || square(black_box(fresh()))))
        });
    }
    group.finish();
    read_write.flush_shared(Duration::from_secs(10));
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = remote_hit, miss
}
criterion_main!(benches);
