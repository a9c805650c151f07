//! Results far larger than memory-friendly sizes: a 300 MiB result is written to a file
//! beside the store as it is encoded, and read back from it as it is decoded, so neither
//! a miss nor a hit holds it twice; a normal exit right after the call leaves it stored.
//! Each run is a child process, so its peak memory is its own.

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use memo::cached;
use support::child::{child, in_child};

/// 300 MiB of `f64`s, unless a test asks a child for another size.
const MIB: usize = 300;
const COPY: u64 = (MIB as u64) << 20;

static COMPUTED: AtomicUsize = AtomicUsize::new(0);

/// `mib` MiB of pseudo-random `f64`s.
#[cached]
fn field(seed: u64, mib: usize) -> Vec<f64> {
    COMPUTED.fetch_add(1, Ordering::Relaxed);
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

/// This process's peak resident memory, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// What a child says of its call.
#[derive(Debug)]
struct Run {
    computed: usize,
    millis: u128,
    peak: u64,
    check: u64,
}

#[test]
#[ignore = "run as a child of the tests below"]
fn big_child() {
    if !in_child() {
        return;
    }
    let seed = std::env::var("BIG_SEED").unwrap().parse().unwrap();
    let mib = std::env::var("BIG_MIB").map_or(MIB, |mib| mib.parse().unwrap());
    let start = Instant::now();
    let value = field(seed, mib);
    let millis = start.elapsed().as_millis();
    let check = value
        .iter()
        .fold(0u64, |acc, x| acc.rotate_left(5) ^ x.to_bits());
    assert_eq!(value.len(), mib << 17);
    drop(value);
    println!(
        "big: {} {} {} {}",
        COMPUTED.load(Ordering::Relaxed),
        millis,
        peak_rss(),
        check
    );
}

fn run(dir: &Path, seed: u64) -> Run {
    run_sized(dir, seed, MIB)
}

fn run_sized(dir: &Path, seed: u64, mib: usize) -> Run {
    let out = child("big_child", dir)
        .env("BIG_SEED", seed.to_string())
        .env("BIG_MIB", mib.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|line| line.split_once("big: ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("{stdout}"));
    let fields: Vec<u64> = line.split(' ').map(|f| f.parse().unwrap()).collect();
    Run {
        computed: fields[0] as usize,
        millis: u128::from(fields[1]),
        peak: fields[2],
        check: fields[3],
    }
}

/// The files in the store's `blobs` directory, with their sizes.
fn files(dir: &Path) -> Vec<(String, u64)> {
    let Ok(listing) = std::fs::read_dir(dir.join("blobs")) else {
        return Vec::new();
    };
    listing
        .flatten()
        .map(|item| {
            (
                item.file_name().to_string_lossy().into_owned(),
                item.metadata().unwrap().len(),
            )
        })
        .collect()
}

#[test]
fn a_300_mib_result_is_stored_and_read_back_without_a_second_copy() {
    let dir = tempfile::tempdir().unwrap();
    let miss = run(dir.path(), 7);
    assert_eq!(miss.computed, 1);
    // The value, and the copy that checks it reads back, before it is stored.
    assert!(
        miss.peak < 2 * COPY + COPY / 4,
        "a miss peaked at {} MiB for a {} MiB result",
        miss.peak >> 20,
        COPY >> 20
    );
    // One file of the encoded result (postcard: a length, then the floats), outside the
    // database; nothing half-written left.
    let stored = files(dir.path());
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0].1 > COPY && stored[0].1 < COPY + 16, "{stored:?}");
    let db = std::fs::metadata(dir.path().join("store.redb"))
        .unwrap()
        .len();
    assert!(db < 16 << 20, "the database took {db} bytes");

    let hit = run(dir.path(), 7);
    assert_eq!(hit.computed, 0, "answered from the store");
    assert_eq!(hit.check, miss.check, "the same value");
    assert!(
        hit.peak < COPY + COPY / 4,
        "a hit peaked at {} MiB for a {} MiB result",
        hit.peak >> 20,
        COPY >> 20
    );
    eprintln!(
        "300 MiB result: computed in {} ms (peak {} MiB), read back in {} ms (peak {} MiB)",
        miss.millis,
        miss.peak >> 20,
        hit.millis,
        hit.peak >> 20
    );
}

#[cached]
fn small(x: u64) -> u64 {
    x + 1
}

/// In a child: holds the store (its first call opens it), says so, and waits to be killed.
#[test]
#[ignore = "run as a child of the tests below"]
fn holder_child() {
    if in_child() {
        small(1);
        println!("holding");
        std::thread::sleep(std::time::Duration::from_secs(120));
    }
}

/// A process served by another that holds the store writes and reads a large result's
/// file itself: the holder never carries the bytes, and neither side holds a second copy.
#[test]
fn a_served_process_stores_and_reads_back_a_large_result_itself() {
    use std::io::BufRead;

    const SERVED_MIB: usize = 64;
    let copy = (SERVED_MIB as u64) << 20;
    let dir = tempfile::tempdir().unwrap();
    let mut holder = child("holder_child", dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(holder.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("holding") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the holder ended");
    }

    let miss = run_sized(dir.path(), 11, SERVED_MIB);
    assert_eq!(miss.computed, 1);
    let stored = files(dir.path());
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0].1 > copy && stored[0].1 < copy + 16, "{stored:?}");
    let hit = run_sized(dir.path(), 11, SERVED_MIB);
    assert_eq!(
        hit.computed, 0,
        "answered through the holder, from the file"
    );
    assert_eq!(hit.check, miss.check);
    // One copy, and what a test process takes besides.
    let base = 24 << 20;
    assert!(
        hit.peak < copy + copy / 4 + base,
        "a served hit peaked at {} MiB for a {SERVED_MIB} MiB result",
        hit.peak >> 20
    );
    let holder_peak = std::fs::read_to_string(format!("/proc/{}/status", holder.id()))
        .unwrap()
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .and_then(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap()
        * 1024;
    assert!(
        holder_peak < copy / 2,
        "the holder carried the result: it peaked at {} MiB",
        holder_peak >> 20
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
}
