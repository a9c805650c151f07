//! Warm hits: a cached function called again with the same arguments, in one process.
//! memo (persistent, with its in-memory tier) against `cached` (in memory) and `memoize`
//! (in memory), side by side in one run: one hot key, then working sets of 1 to 1M keys
//! (`MEMO_BENCH_SETS=1,1000` picks them) called in a scattered order, against `cached`
//! unbounded and bounded to about what memo's 64 MiB budget holds.

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

// ------------------------------------------------------------ working sets

/// The keys of a working set of `n`, in a scattered order: a hit is never the entry the
/// last one touched.
fn scattered(n: u64) -> Vec<u64> {
    // A multiplier coprime with every n used here walks all of 0..n once.
    (0..n).map(|i| (i * 2_654_435_761) % n).collect()
}

fn sizes() -> Vec<u64> {
    match std::env::var("MEMO_BENCH_SETS") {
        Ok(list) => list.split(',').map(|n| n.trim().parse().unwrap()).collect(),
        Err(_) => vec![1, 1_000, 10_000, 100_000, 1_000_000],
    }
}

/// What the working sets add to the functions above: memo with its exact path stood
/// aside, and `cached` bounded.
mod set_fns {
    use super::Config;

    // With a ttl the exact path stands aside: the tier by key stream alone.
    #[memo::cached(ttl = "1d")]
    pub fn square_shared(x: u64) -> u64 {
        x * x
    }

    // Bounded like memo's tier: what 64 MiB holds of these entries.
    #[cached::macros::cached(max_size = 300_000)]
    pub fn sized_square(x: u64) -> u64 {
        x * x
    }

    #[cached::macros::cached(max_size = 300_000)]
    pub fn sized_length(s: String) -> usize {
        s.len()
    }

    #[cached::macros::cached(max_size = 300_000)]
    pub fn sized_area(c: Config) -> u64 {
        u64::from(c.width * c.height)
    }
}

fn text(i: u64) -> String {
    format!("a moderately long string argument {i:>10}")
}

fn config_n(i: u64) -> Config {
    Config {
        seed: i,
        ..config()
    }
}

/// Fills each function with the working set in key order, then measures a hit cycling
/// through it in a scattered order: neither the last hit's entry nor the order entries
/// were made in (which a cache laying its entries out as they come would turn into a
/// sequential walk the processor prefetches) predicts where the next one is.
fn set_of<A: Clone>(
    c: &mut Criterion,
    name: &str,
    n: u64,
    arg: impl Fn(u64) -> A,
    fns: &[(&str, &dyn Fn(A) -> u64)],
) {
    let args: Vec<A> = scattered(n).into_iter().map(&arg).collect();
    let mut group = c.benchmark_group(format!("working_set_{name}_{n}"));
    for &(label, f) in fns {
        for i in 0..n {
            f(arg(i));
        }
        let mut i = 0;
        group.bench_function(label, |b| {
            b.iter(|| {
                i = if i + 1 == args.len() { 0 } else { i + 1 };
                f(black_box(args[i].clone()))
            })
        });
    }
    group.finish();
}

fn working_sets(c: &mut Criterion) {
    let store = memo::Store::temporary().unwrap();
    memo::set_default_store(store);
    for n in sizes() {
        set_of(
            c,
            "u64",
            n,
            |i| i,
            &[
                ("memo", &memo_fns::square),
                ("memo_shared_only", &set_fns::square_shared),
                ("cached", &cached_fns::square),
                ("cached_sized", &set_fns::sized_square),
            ],
        );
        if n <= 100_000 {
            set_of(
                c,
                "string",
                n,
                text,
                &[
                    ("memo", &|s| memo_fns::length(s) as u64),
                    ("cached", &|s| cached_fns::length(s) as u64),
                    ("cached_sized", &|s| set_fns::sized_length(s) as u64),
                ],
            );
            set_of(
                c,
                "struct10",
                n,
                config_n,
                &[
                    ("memo", &memo_fns::area),
                    ("cached", &cached_fns::area),
                    ("cached_sized", &set_fns::sized_area),
                ],
            );
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = warm_hits, working_sets
}
criterion_main!(benches);
