//! The first thing to run: a slow function that is instant the second time, in this run
//! and in the next one.
//!
//! ```sh
//! cargo run --example quickstart   # computes, about two seconds
//! cargo run --example quickstart   # answers from .memo/ at once
//! ```
//!
//! Edit `simulate` or `step` below and run again: the code changed, so the old result no
//! longer matches and it is computed afresh.

use std::time::{Duration, Instant};

use memo::cached;

/// One step of a toy simulation.
fn step(state: u64) -> u64 {
    state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
}

/// A slow, deterministic computation: it stands for a build step, a data pipeline stage,
/// an API call or a simulation.
#[cached]
fn simulate(seed: u64, steps: u32) -> u64 {
    std::thread::sleep(Duration::from_secs(2));
    (0..steps).fold(seed, |state, _| step(state))
}

fn main() {
    for round in ["first", "second"] {
        let start = Instant::now();
        let result = simulate(42, 1_000_000);
        let took = start.elapsed();
        let how = if took > Duration::from_secs(1) {
            "computed"
        } else {
            "stored result"
        };
        println!("{round} call: simulate(42, 1000000) = {result:#018x}  ({how}, {took:.1?})");
    }
    let store = memo::default_store().expect("the store opens");
    let stats = store.stats().expect("stats");
    println!(
        "store {}: {} entries, {} hits, {} misses in all runs so far",
        store.dir().display(),
        stats.entries,
        stats.hits,
        stats.misses
    );
    println!();
    // What the cache key's code fingerprint is made of: `simulate` and the helper it calls.
    print!("{}", memo::explain("simulate").expect("simulate is cached"));
}
