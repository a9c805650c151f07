//! Keying large arguments: memo's key of a `Vec<u8>` or `Vec<f32>` against raw blake3 of
//! the same bytes and against serializing with postcard and then hashing; and a `Memo` of
//! them, keyed by its hash alone.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use memo::Memo;

fn keys(c: &mut Criterion) {
    for (label, len) in [("1MiB", 1usize << 20), ("64MiB", 64 << 20)] {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let floats: Vec<f32> = (0..len / 4).map(|i| i as f32 * 0.5).collect();
        let float_bytes: Vec<u8> = floats.iter().flat_map(|f| f.to_le_bytes()).collect();
        let memo_bytes = Memo::new(bytes.clone());

        let mut group = c.benchmark_group(format!("key_{label}"));
        group.throughput(Throughput::Bytes(len as u64));
        if len > 1 << 20 {
            group.sample_size(10);
        }
        group.bench_function(BenchmarkId::new("memo", "Vec<u8>"), |b| {
            b.iter(|| memo::key_of(black_box(&bytes)))
        });
        group.bench_function(BenchmarkId::new("blake3", "Vec<u8>"), |b| {
            b.iter(|| blake3::hash(black_box(&bytes)))
        });
        group.bench_function(BenchmarkId::new("postcard+blake3", "Vec<u8>"), |b| {
            b.iter(|| blake3::hash(&postcard::to_stdvec(black_box(&bytes)).unwrap()))
        });
        group.bench_function(BenchmarkId::new("memo", "Vec<f32>"), |b| {
            b.iter(|| memo::key_of(black_box(&floats)))
        });
        group.bench_function(BenchmarkId::new("blake3", "Vec<f32>"), |b| {
            b.iter(|| blake3::hash(black_box(&float_bytes)))
        });
        group.bench_function(BenchmarkId::new("postcard+blake3", "Vec<f32>"), |b| {
            b.iter(|| blake3::hash(&postcard::to_stdvec(black_box(&floats)).unwrap()))
        });
        group.bench_function(BenchmarkId::new("memo", "Memo<Vec<u8>>"), |b| {
            b.iter(|| memo::key_of(black_box(&memo_bytes)))
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = keys
}
criterion_main!(benches);
