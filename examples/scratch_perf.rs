use std::time::Instant;
#[memo::cached]
fn square(x: u64) -> u64 {
    x * x
}
fn main() {
    let store = memo::Store::temporary().unwrap();
    memo::set_default_store(store.clone());
    square(7);
    square(7);
    let n: u32 = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000);
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(square(std::hint::black_box(7)));
    }
    println!(
        "call: {:.1} ns",
        t.elapsed().as_nanos() as f64 / f64::from(n)
    );
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(memo::current_store());
    }
    println!(
        "current_store: {:.1} ns",
        t.elapsed().as_nanos() as f64 / f64::from(n)
    );
    let t = Instant::now();
    for _ in 0..n {
        let mut h = memo::KeyHasher::new();
        memo::CacheKey::cache_key(&7u64, &mut h);
        std::hint::black_box(&h);
    }
    println!(
        "keyhasher: {:.1} ns",
        t.elapsed().as_nanos() as f64 / f64::from(n)
    );
    println!("{:?}", store.stats().unwrap());
}
