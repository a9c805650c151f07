//! Hits served by the persistent layer, and the cost of a miss, side by side with the
//! peers: memo's store (its in-memory tier switched off) on each engine, `cached`'s redb
//! disk store, and for misses one raw sled insert of the same bytes, the yardstick the
//! targets name.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cached::{ConcurrentCached, RedbCache};
use criterion::{Criterion, criterion_group, criterion_main};
use memo::{Engine, Store, cached};

#[cached]
fn square(x: u64) -> u64 {
    x.wrapping_mul(x)
}

fn redb(dir: &std::path::Path, durable: bool) -> RedbCache<u64, u64> {
    RedbCache::builder("bench")
        .disk_dir(dir)
        .durable(durable)
        .build()
        .unwrap()
}

/// A store of `engine` holding `square` of 0..1000, opened afresh with every hit going to
/// the database.
fn filled_store(engine: Engine, dir: &std::path::Path) -> Store {
    {
        let store = Store::builder(dir).engine(engine).open().unwrap();
        memo::with_store(&store, || {
            (0..1000).for_each(|x| {
                square(x);
            })
        });
    }
    Store::builder(dir).in_memory_tier(false).open().unwrap()
}

fn persistent_hit(c: &mut Criterion) {
    let memo_dir = tempfile::tempdir().unwrap();
    let store = filled_store(Engine::Redb, memo_dir.path());
    let sled_dir = tempfile::tempdir().unwrap();
    let sled_store = filled_store(Engine::Sled, sled_dir.path());
    let redb_dir = tempfile::tempdir().unwrap();
    let disk = redb(redb_dir.path(), true);
    for x in 0..1000 {
        let _ = disk.cache_set(x, x.wrapping_mul(x)).unwrap();
    }

    let mut group = c.benchmark_group("persistent_hit_u64");
    for (name, store) in [("memo_store", &store), ("memo_store_sled", &sled_store)] {
        let mut i = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % 1000;
                memo::with_store(store, || square(black_box(i)))
            })
        });
    }
    let mut i = 0u64;
    group.bench_function("cached_redb", |b| {
        b.iter(|| {
            i = (i + 1) % 1000;
            disk.cache_get(&black_box(i)).unwrap()
        })
    });
    group.finish();
}

fn miss(c: &mut Criterion) {
    let store = Store::temporary().unwrap();
    let sled_store = Store::temporary_builder()
        .engine(Engine::Sled)
        .open()
        .unwrap();
    let redb_dir = tempfile::tempdir().unwrap();
    let fast_disk = redb(redb_dir.path(), false);
    let durable_dir = tempfile::tempdir().unwrap();
    let durable_disk = redb(durable_dir.path(), true);
    let sled_dir = tempfile::tempdir().unwrap();
    let raw = sled::open(sled_dir.path()).unwrap();
    let next = AtomicU64::new(1 << 32);
    let fresh = || next.fetch_add(1, Ordering::Relaxed);

    let mut group = c.benchmark_group("miss_u64");
    group.bench_function("memo", |b| {
        b.iter(|| memo::with_store(&store, || square(black_box(fresh()))))
    });
    group.bench_function("memo_sled", |b| {
        b.iter(|| memo::with_store(&sled_store, || square(black_box(fresh()))))
    });
    group.bench_function("cached_memory", |b| {
        b.iter(|| cached_square(black_box(fresh())))
    });
    group.bench_function("cached_redb", |b| {
        b.iter(|| {
            let x = fresh();
            fast_disk.cache_set(x, x.wrapping_mul(x)).unwrap()
        })
    });
    group.sample_size(10);
    group.bench_function("cached_redb_durable", |b| {
        b.iter(|| {
            let x = fresh();
            durable_disk.cache_set(x, x.wrapping_mul(x)).unwrap()
        })
    });
    group.sample_size(100);
    group.bench_function("sled_insert", |b| {
        b.iter(|| {
            let x = fresh();
            raw.insert(x.to_le_bytes(), &x.wrapping_mul(x).to_le_bytes())
                .unwrap()
        })
    });
    group.finish();
}

#[cached]
fn row(x: u64) -> Vec<u64> {
    (0..8192).map(|i| x ^ i).collect()
}

/// A miss whose result is 64 KiB: its encoding, and reading it back as it is stored, are
/// a larger share of the miss; postcard's own encode and decode of the same value are the
/// yardsticks.
fn miss_64k(c: &mut Criterion) {
    let store = Store::temporary().unwrap();
    let redb_dir = tempfile::tempdir().unwrap();
    let disk: RedbCache<u64, Vec<u64>> = RedbCache::builder("bench")
        .disk_dir(redb_dir.path())
        .durable(false)
        .build()
        .unwrap();
    let next = AtomicU64::new(1 << 33);
    let fresh = || next.fetch_add(1, Ordering::Relaxed);
    let value: Vec<u64> = (0..8192).collect();
    let bytes = postcard::to_stdvec(&value).unwrap();

    let mut group = c.benchmark_group("miss_64k");
    group.bench_function("memo", |b| {
        b.iter(|| memo::with_store(&store, || row(black_box(fresh()))).len())
    });
    group.bench_function("cached_redb", |b| {
        b.iter(|| {
            let x = fresh();
            disk.cache_set(x, (0..8192).map(|i| x ^ i).collect())
                .unwrap()
        })
    });
    group.bench_function("postcard_encode", |b| {
        b.iter(|| postcard::to_stdvec(black_box(&value)).unwrap())
    });
    group.bench_function("postcard_decode", |b| {
        b.iter(|| postcard::from_bytes::<Vec<u64>>(black_box(&bytes)).unwrap())
    });
    group.finish();
}

/// The first hit on each key in a fresh handle on a filled store, at 1,000, 100,000 and
/// 1M entries (`MEMO_BENCH_COLD=1000,100000` picks them): read from the database,
/// checked, decoded and put in the in-memory tier, as a new process's first calls are.
/// `cached`'s redb store, opened afresh as often, reads from disk on every get. Each
/// handle serves one pass over every key in a scattered order, across as many of
/// criterion's batches as that takes, then is replaced by a fresh one: a handle's opening
/// is not timed, and a large store's is not paid for every batch.
fn cold_hit(c: &mut Criterion) {
    let sizes: Vec<u64> = match std::env::var("MEMO_BENCH_COLD") {
        Ok(list) => list.split(',').map(|n| n.trim().parse().unwrap()).collect(),
        Err(_) => vec![1_000, 100_000, 1_000_000],
    };
    for n in sizes {
        let memo_dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(memo_dir.path()).unwrap();
            memo::with_store(&store, || {
                (0..n).for_each(|x| {
                    black_box(square(x));
                })
            });
        }
        memo::set_memory_budget(0);
        memo::set_memory_budget(64 << 20);
        let redb_dir = tempfile::tempdir().unwrap();
        {
            let disk = redb(redb_dir.path(), false);
            for x in 0..n {
                let _ = disk.cache_set(x, x.wrapping_mul(x)).unwrap();
            }
        }
        let order: Vec<u64> = (0..n).map(|i| (i * 2_654_435_761) % n).collect();

        let mut group = c.benchmark_group(format!("cold_hit_u64_{n}"));
        if n >= 1_000_000 {
            group.sample_size(10);
        }
        // The handle in use and how far through `order` it is.
        let mut memo_handle = None;
        group.bench_function("memo", |b| {
            b.iter_custom(|iters| {
                passes(
                    iters,
                    &order,
                    &mut memo_handle,
                    || {
                        memo::set_memory_budget(0);
                        memo::set_memory_budget(64 << 20);
                        Store::open(memo_dir.path()).unwrap()
                    },
                    |store, keys| {
                        memo::with_store(store, || {
                            for &x in keys {
                                black_box(square(black_box(x)));
                            }
                        })
                    },
                )
            })
        });
        drop(memo_handle);
        let mut redb_handle = None;
        group.bench_function("cached_redb", |b| {
            b.iter_custom(|iters| {
                passes(
                    iters,
                    &order,
                    &mut redb_handle,
                    || redb(redb_dir.path(), false),
                    |disk, keys| {
                        for &x in keys {
                            black_box(disk.cache_get(&black_box(x)).unwrap());
                        }
                    },
                )
            })
        });
        group.finish();
    }
}

/// Times `iters` hits on the keys of `order`, continuing the pass of the handle in
/// `handle` (a handle and how far through `order` it is) and opening a fresh one with
/// `open`, untimed, whenever a pass is done; `run` hits a run of keys with a handle.
fn passes<H>(
    iters: u64,
    order: &[u64],
    handle: &mut Option<(H, usize)>,
    mut open: impl FnMut() -> H,
    mut run: impl FnMut(&H, &[u64]),
) -> Duration {
    let mut spent = Duration::ZERO;
    let mut left = iters as usize;
    while left > 0 {
        let (current, at) = match handle.take() {
            Some((current, at)) if at < order.len() => (current, at),
            old => {
                drop(old);
                (open(), 0)
            }
        };
        let take = left.min(order.len() - at);
        let start = std::time::Instant::now();
        run(&current, &order[at..at + take]);
        spent += start.elapsed();
        left -= take;
        *handle = Some((current, at + take));
    }
    spent
}

#[cached::macros::cached]
fn cached_square(x: u64) -> u64 {
    x.wrapping_mul(x)
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = persistent_hit, miss, miss_64k, cold_hit
}
criterion_main!(benches);
