//! A data pipeline as a chain of cached steps joined by `Memo` results: each step keys by
//! the content hash of its input, so a pipeline re-runs exactly the steps downstream of a
//! change.
//!
//! ```sh
//! cargo run --example pipeline                 # every step runs
//! cargo run --example pipeline                 # every step is a hit
//! cargo run --example pipeline -- --clip 2.5   # only `clip` and `summarize` run
//! ```
//!
//! Each run ends with `memo::observe`'s report: per step, its calls, hits and misses, the
//! time spent computing and the time the hits saved.

use std::time::Instant;

use memo::{Memo, cached};

/// Stands for reading and parsing a large input.
#[cached]
fn load(rows: usize) -> Memo<Vec<f64>> {
    println!("  load: reading {rows} rows");
    Memo::new(
        (0..rows)
            .map(|i| ((i * 7919) % 1000) as f64 / 100.0)
            .collect(),
    )
}

/// Clips outliers; its threshold is a parameter of the step.
#[cached]
fn clip(data: &Memo<Vec<f64>>, limit: f64) -> Memo<Vec<f64>> {
    println!("  clip: clipping at {limit}");
    Memo::new(data.iter().map(|x| x.min(limit)).collect())
}

#[cached]
fn summarize(data: &Memo<Vec<f64>>) -> (f64, f64) {
    println!("  summarize: {} values", data.len());
    let mean = data.iter().sum::<f64>() / data.len() as f64;
    let var = data.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / data.len() as f64;
    (mean, var.sqrt())
}

fn main() {
    let limit = std::env::args()
        .skip_while(|arg| arg != "--clip")
        .nth(1)
        .map_or(5.0, |v| v.parse().expect("--clip takes a number"));
    let start = Instant::now();
    // `observe` reports what the cached calls inside it did.
    let ((data, clipped, (mean, sd)), report) = memo::observe(|| {
        let data = load(1_000_000);
        let clipped = clip(&data, limit);
        let summary = summarize(&clipped);
        (data, clipped, summary)
    });
    println!("mean {mean:.4}, sd {sd:.4}  ({:.1?})", start.elapsed());
    println!(
        "load {} -> clip {} -> summarize",
        data.hash().short(),
        clipped.hash().short()
    );
    print!("{report}");
}
