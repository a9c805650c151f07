//! `#[cached]` on `async fn`: concurrent calls with the same key share one computation, and
//! waiting for it does not block the executor.
//!
//! ```sh
//! cargo run --example async
//! ```

use std::time::{Duration, Instant};

use memo::cached;

/// Stands for a slow API call.
#[cached(ttl = "10m")]
async fn fetch_rate(from: String, to: String) -> Result<f64, String> {
    println!("  fetching {from}/{to}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    match (from.as_str(), to.as_str()) {
        ("EUR", "USD") => Ok(1.08),
        ("USD", "EUR") => Ok(0.93),
        _ => Err(format!("no rate for {from}/{to}")), // errors are never stored
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let start = Instant::now();
    let (a, b, c) = tokio::join!(
        fetch_rate("EUR".into(), "USD".into()),
        fetch_rate("EUR".into(), "USD".into()),
        fetch_rate("USD".into(), "EUR".into()),
    );
    println!(
        "three concurrent calls, two fetches: {a:?} {b:?} {c:?} ({:.1?})",
        start.elapsed()
    );

    let start = Instant::now();
    let again = fetch_rate("EUR".into(), "USD".into()).await;
    println!("again: {again:?} ({:.1?})", start.elapsed());

    let missing = fetch_rate("EUR".into(), "JPY".into()).await;
    println!("an error is returned, not stored: {missing:?}");
}
