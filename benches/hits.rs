//! Warm hits: a cached function called again with the same arguments, in one process.
//! memo (persistent, with its in-process tier) against `cached` (in memory) and `memoize`
//! (in memory), side by side in one run.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

#[derive(memo::CacheKey, Clone, PartialEq, Eq, Hash)]
struct Config {
    name: String,
    width: u32,
    height: u32,
    depth: u32,
    seed: u64,
    steps: u64,
    verbose: bool,
    mode: u8,
    label: String,
    scale: i64,
}

fn config() -> Config {
    Config {
        name: "experiment".into(),
        width: 640,
        height: 480,
        depth: 3,
        seed: 42,
        steps: 1000,
        verbose: false,
        mode: 2,
        label: "baseline".into(),
        scale: -7,
    }
}

mod memo_fns {
    use super::Config;

    #[memo::cached]
    pub fn square(x: u64) -> u64 {
        x * x
    }

    #[memo::cached]
    pub fn length(s: String) -> usize {
        s.len()
    }

    #[memo::cached]
    pub fn area(c: Config) -> u64 {
        u64::from(c.width * c.height)
    }
}

mod cached_fns {
    use super::Config;

    #[cached::macros::cached]
    pub fn square(x: u64) -> u64 {
        x * x
    }

    #[cached::macros::cached]
    pub fn length(s: String) -> usize {
        s.len()
    }

    #[cached::macros::cached]
    pub fn area(c: Config) -> u64 {
        u64::from(c.width * c.height)
    }
}

mod memoize_fns {
    use super::Config;

    #[memoize::memoize]
    pub fn square(x: u64) -> u64 {
        x * x
    }

    #[memoize::memoize]
    pub fn length(s: String) -> usize {
        s.len()
    }

    #[memoize::memoize]
    pub fn area(c: Config) -> u64 {
        u64::from(c.width * c.height)
    }
}

fn warm_hits(c: &mut Criterion) {
    let store = memo::Store::temporary().unwrap();
    memo::set_default_store(store);
    let text = "a moderately long string argument".to_owned();
    let cfg = config();

    let mut group = c.benchmark_group("warm_hit_u64");
    memo_fns::square(7);
    cached_fns::square(7);
    memoize_fns::square(7);
    group.bench_function("memo", |b| b.iter(|| memo_fns::square(black_box(7))));
    group.bench_function("cached", |b| b.iter(|| cached_fns::square(black_box(7))));
    group.bench_function("memoize", |b| b.iter(|| memoize_fns::square(black_box(7))));
    group.finish();

    let mut group = c.benchmark_group("warm_hit_string");
    memo_fns::length(text.clone());
    cached_fns::length(text.clone());
    memoize_fns::length(text.clone());
    group.bench_function("memo", |b| {
        b.iter(|| memo_fns::length(black_box(text.clone())))
    });
    group.bench_function("cached", |b| {
        b.iter(|| cached_fns::length(black_box(text.clone())))
    });
    group.bench_function("memoize", |b| {
        b.iter(|| memoize_fns::length(black_box(text.clone())))
    });
    group.finish();

    let mut group = c.benchmark_group("warm_hit_struct10");
    memo_fns::area(cfg.clone());
    cached_fns::area(cfg.clone());
    memoize_fns::area(cfg.clone());
    group.bench_function("memo", |b| {
        b.iter(|| memo_fns::area(black_box(cfg.clone())))
    });
    group.bench_function("cached", |b| {
        b.iter(|| cached_fns::area(black_box(cfg.clone())))
    });
    group.bench_function("memoize", |b| {
        b.iter(|| memoize_fns::area(black_box(cfg.clone())))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = warm_hits
}
criterion_main!(benches);
