//! Large results: a 64 MiB `Vec<f64>` stored and read back, memo (kept as a file beside the
//! database, streamed in and out) against `cached`'s redb disk store (one row), the floor
//! of reading the same bytes whole and decoding them, and computing the value afresh.
//!
//! `MEMO_BENCH_BIG_MIB` sets the size (default 64).

use std::hint::black_box;
use std::time::Duration;

use cached::{ConcurrentCached, RedbCache};
use criterion::{Criterion, criterion_group, criterion_main};
use memo::{Store, cached};

fn mib() -> usize {
    std::env::var("MEMO_BENCH_BIG_MIB").map_or(64, |v| v.parse().unwrap())
}

/// `mib` MiB of pseudo-random floats: what a simulation step or a feature matrix returns.
fn compute(seed: u64, mib: usize) -> Vec<f64> {
    let len = mib << 17;
    let mut out = Vec::with_capacity(len);
    let mut x = seed;
    for _ in 0..len {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.push((x >> 11) as f64);
    }
    out
}

#[cached]
fn field(seed: u64, mib: usize) -> Vec<f64> {
    compute(seed, mib)
}

fn big(c: &mut Criterion) {
    let mib = mib();
    let memo_dir = tempfile::tempdir().unwrap();
    let store = Store::open(memo_dir.path()).unwrap();
    memo::with_store(&store, || field(1, mib));
    store.flush().unwrap();

    let redb_dir = tempfile::tempdir().unwrap();
    let disk: RedbCache<u64, Vec<f64>> = RedbCache::builder("big")
        .disk_dir(redb_dir.path())
        .durable(true)
        .build()
        .unwrap();
    disk.cache_set(1, compute(1, mib)).unwrap();

    let raw_dir = tempfile::tempdir().unwrap();
    let raw_path = raw_dir.path().join("value.postcard");
    std::fs::write(&raw_path, postcard::to_allocvec(&compute(1, mib)).unwrap()).unwrap();

    let mut group = c.benchmark_group(format!("big_{mib}mib_vec_f64"));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.bench_function("memo_hit", |b| {
        b.iter(|| memo::with_store(&store, || field(black_box(1), mib)).len())
    });
    group.bench_function("cached_redb_hit", |b| {
        b.iter(|| disk.cache_get(&black_box(1)).unwrap().unwrap().len())
    });
    group.bench_function("read_and_decode_floor", |b| {
        b.iter(|| {
            let bytes = std::fs::read(black_box(&raw_path)).unwrap();
            postcard::from_bytes::<Vec<f64>>(&bytes).unwrap().len()
        })
    });
    group.bench_function("compute", |b| b.iter(|| compute(black_box(1), mib).len()));
    // A miss that stores: `refresh` recomputes and rewrites the same result each time.
    group.bench_function("memo_miss_store", |b| {
        b.iter(|| memo::with_store(&store, || memo::refresh(|| field(black_box(1), mib))).len())
    });
    group.bench_function("cached_redb_store", |b| {
        b.iter(|| disk.cache_set(black_box(1), compute(1, mib)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, big);
criterion_main!(benches);
