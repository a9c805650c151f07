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

/// 300 MiB of `f64`s.
const LEN: usize = 300 << 17;
const COPY: u64 = (LEN * 8) as u64;

static COMPUTED: AtomicUsize = AtomicUsize::new(0);

#[cached]
fn field(seed: u64) -> Vec<f64> {
    COMPUTED.fetch_add(1, Ordering::Relaxed);
    let mut out = Vec::with_capacity(LEN);
    let mut x = seed;
    for _ in 0..LEN {
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
    let start = Instant::now();
    let value = field(seed);
    let millis = start.elapsed().as_millis();
    let check = value
        .iter()
        .fold(0u64, |acc, x| acc.rotate_left(5) ^ x.to_bits());
    assert_eq!(value.len(), LEN);
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
    let out = child("big_child", dir)
        .env("BIG_SEED", seed.to_string())
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
