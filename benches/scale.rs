//! Scale: time to the first hit in a new process, and memory and disk after many distinct
//! calls. Each measurement runs in a child process (this program again), so it sees a cold
//! start and its own peak RSS.
//!
//! ```sh
//! cargo bench --bench scale                          # 10k entries
//! MEMO_BENCH_ENTRIES=1000000 cargo bench --bench scale
//! MEMO_BENCH_BUDGET=0 cargo bench --bench scale      # in-memory tier off
//! ```

use std::process::Command;
use std::time::Instant;

#[memo::cached]
fn square(x: u64) -> u64 {
    x.wrapping_mul(x)
}

fn entries() -> u64 {
    std::env::var("MEMO_BENCH_ENTRIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000)
}

/// Peak resident memory of this process, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn child(role: &str, dir: &std::path::Path, extra: &[(&str, &str)]) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .env("MEMO_BENCH_ROLE", role)
        .env("MEMO_DIR", dir)
        .env("MEMO_BENCH_ENTRIES", entries().to_string());
    for (k, v) in extra {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn main() {
    match std::env::var("MEMO_BENCH_ROLE").as_deref() {
        Ok("fill") => {
            if let Some(budget) = std::env::var("MEMO_BENCH_BUDGET")
                .ok()
                .and_then(|b| b.parse().ok())
            {
                memo::set_memory_budget(budget);
            }
            let n = entries();
            for x in 0..n {
                std::hint::black_box(square(x));
            }
            // Peak RSS of the calls, and what the in-memory tier holds; the store is
            // flushed (and compacted, if writes left its file mostly free) at exit, after
            // this.
            let usage = memo::memory_usage();
            println!("{} {} {}", peak_rss_kib(), usage.entries, usage.bytes);
        }
        Ok("hold") => {
            for x in 0..1000 {
                std::hint::black_box(square(x));
            }
            println!("ready");
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        }
        Ok("served") => {
            // Every call goes to the holder: the in-memory tier is off.
            memo::set_memory_budget(0);
            let calls = 20_000u64;
            let start = Instant::now();
            for i in 0..calls {
                std::hint::black_box(square(i % 1000));
            }
            println!(
                "{:.1}",
                start.elapsed().as_nanos() as f64 / calls as f64 / 1000.0
            );
        }
        Ok("first") => {
            let start = Instant::now();
            let value = square(entries() / 2);
            let took = start.elapsed();
            let stats = memo::default_store().unwrap().stats().unwrap();
            assert_eq!(value, (entries() / 2).wrapping_mul(entries() / 2));
            assert_eq!(stats.misses, entries(), "the first call was a hit");
            println!("{}", took.as_micros());
        }
        _ => {
            // cargo bench passes `--bench`; the measurements take no arguments. Each
            // engine in turn, side by side in one run.
            for engine in ["redb", "sled"] {
                measure(("MEMO_ENGINE", engine));
            }
        }
    }
}

/// Every measurement, on the engine `MEMO_ENGINE` names in `engine`.
fn measure(engine: (&str, &str)) {
    let n = entries();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let budget = std::env::var("MEMO_BENCH_BUDGET").unwrap_or_default();
    let numbers =
        |out: String| -> Vec<u64> { out.split(' ').map(|n| n.parse().unwrap()).collect() };
    let filled = numbers(child(
        "fill",
        &store,
        &[("MEMO_BENCH_BUDGET", &budget), engine],
    ));
    let baseline = numbers(child(
        "fill",
        &dir.path().join("off"),
        &[("MEMO_DISABLE", "1"), engine],
    ));
    // The same calls with the in-memory tier off: what the tier itself costs.
    let untiered = numbers(child(
        "fill",
        &dir.path().join("untiered"),
        &[("MEMO_BENCH_BUDGET", "0"), engine],
    ));
    let (rss, held, accounted) = (filled[0], filled[1], filled[2]);
    let base_rss = baseline[0];
    // What the store takes on disk once the process that filled it has exited.
    let disk = memo::Store::open(&store)
        .unwrap()
        .stats()
        .unwrap()
        .disk_bytes;
    println!("{n} distinct calls with 8-byte results, on {}:", engine.1);
    println!(
        "  peak RSS {} MiB, {} MiB without caching: memo adds {} MiB",
        rss / 1024,
        base_rss / 1024,
        rss.saturating_sub(base_rss) / 1024
    );
    if let (Some(counted), Some(resident)) = (
        accounted.checked_div(held),
        (rss.saturating_sub(untiered[0]) * 1024).checked_div(held),
    ) {
        println!(
            "  in memory: {held} results held, {counted} bytes each by the budget's count, {resident} bytes each of RSS (against the tier off: {} MiB)",
            untiered[0] / 1024
        );
    }
    // A result here is 1 byte of postcard; an entry's metadata is about 100 bytes.
    println!(
        "  disk {} MiB, {} bytes per entry",
        disk >> 20,
        disk / n.max(1)
    );
    let mut firsts: Vec<u64> = (0..5)
        .map(|_| child("first", &store, &[engine]).parse().unwrap())
        .collect();
    firsts.sort_unstable();
    println!(
        "  first hit in a new process: median {:.1} ms (of 5: {:?} µs)",
        firsts[2] as f64 / 1000.0,
        firsts
    );
    served(&dir.path().join("served"), engine);
}

/// A hit served by another process that holds the store, through its socket.
fn served(dir: &std::path::Path, engine: (&str, &str)) {
    use std::io::BufRead;
    let mut holder = Command::new(std::env::current_exe().unwrap())
        .env("MEMO_BENCH_ROLE", "hold")
        .env("MEMO_DIR", dir)
        .env(engine.0, engine.1)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(holder.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.unwrap() == "ready"));
    let per_call = child("served", dir, &[engine]);
    println!("  a hit served by the holder process over its socket: {per_call} µs");
    drop(holder.stdin.take());
    holder.wait().unwrap();
}
