//! The failure policy under abuse: concurrency with expiry, processes killed mid-write,
//! damaged store files, a full filesystem. Children are this test binary, re-run on one
//! ignored test, so a crash or a damaged store never takes the test process down.

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use memo::{Store, cached};
use support::child::{child, in_child};

/// A small deterministic generator, so every run damages and kills the same way.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

// ---------------------------------------------------------------- concurrency

static COMPUTED: Mutex<Option<HashMap<(bool, u64), usize>>> = Mutex::new(None);
/// Counts a computation of `key`; slow enough that concurrent callers pile up on it.
fn computing(expiring: bool, key: u64) {
    *COMPUTED
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .entry((expiring, key))
        .or_default() += 1;
    std::thread::sleep(Duration::from_millis(2));
}

#[cached(ttl = 1)]
fn expiring(key: u64) -> u64 {
    computing(true, key);
    key * 3
}

#[cached]
fn lasting(key: u64) -> u64 {
    computing(false, key);
    key * 5
}

#[test]
fn sixteen_threads_compute_each_key_once_per_expiry() {
    let store = Store::temporary().unwrap();
    let threads = 16;
    let calls = 1000;
    let barrier = Arc::new(Barrier::new(threads));
    let started = Instant::now();
    let handles: Vec<_> = (0..threads as u64)
        .map(|t| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                memo::with_store(&store, || {
                    for i in 0..calls {
                        let key = (t * 7 + i) % 100;
                        // Spread over about two and a half seconds, so ttl = 1s keys expire.
                        if i % 8 == 0 {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        let value = if key % 2 == 0 {
                            expiring(key)
                        } else {
                            lasting(key)
                        };
                        let expected = if key % 2 == 0 { key * 3 } else { key * 5 };
                        assert_eq!(value, expected);
                    }
                })
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("no thread panicked or deadlocked");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let computed = COMPUTED.lock().unwrap().take().unwrap();
    let windows = elapsed.ceil() as usize + 1;
    for key in 0..100u64 {
        let expiring_key = key % 2 == 0;
        let count = computed.get(&(expiring_key, key)).copied().unwrap_or(0);
        if expiring_key {
            assert!(
                (1..=windows).contains(&count),
                "key {key} (ttl 1s) computed {count} times in {elapsed:.1}s"
            );
        } else {
            assert_eq!(count, 1, "key {key} computed {count} times");
        }
    }
    let stats = store.stats().unwrap();
    let misses: usize = computed.values().sum();
    assert_eq!(
        stats.hits + stats.misses,
        (threads * calls as usize) as u64,
        "every call counted"
    );
    assert_eq!(stats.misses as usize, misses, "every computation is a miss");
}

// ---------------------------------------------------------------- crash

static CRASH_RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[cached]
fn crash_square(x: u64) -> u64 {
    CRASH_RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    x.wrapping_mul(x).wrapping_add(7)
}

/// Large enough to be a blob: the file grows as a real store's does.
#[cached]
fn crash_blob(x: u64) -> Vec<u8> {
    CRASH_RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    vec![(x % 251) as u8; 16 << 10]
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
#[ignore = "run by a parent test in a child process"]
fn child_writes_until_killed() {
    if in_child() {
        let start: u64 = std::env::var("START").unwrap().parse().unwrap();
        for x in start.. {
            crash_square(x);
            if x % 4 == 0 {
                crash_blob(x);
            }
            // When the call returned, for the parent to age what a kill loses.
            println!("{x} {}", unix_ms());
        }
    }
}

/// 50 rounds: a child writes results until it is killed with SIGKILL at a random moment;
/// the store then opens, every result reads back right or is recomputed, and what was lost
/// is aged against the kill. The file's size is kept in check across the rounds.
#[test]
fn results_survive_kill_9_and_never_read_back_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let mut random = Lcg(20261121);
    let mut written = 0u64;
    let (mut total, mut lost, mut oldest_lost) = (0u64, 0u64, 0u64);
    let mut sizes = Vec::new();
    for round in 0..50 {
        let mut process = child("child_writes_until_killed", &store_dir)
            .env("START", written.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = process.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| {
                    let (x, at) = l.trim().split_once(' ')?;
                    Some((x.parse::<u64>().ok()?, at.parse::<u64>().ok()?))
                })
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(150 + random.below(250)));
        let killed_at = unix_ms();
        process.kill().unwrap(); // SIGKILL
        process.wait().unwrap();
        let returned = reader.join().unwrap();
        let before = written;
        written = returned.last().map_or(written, |(x, _)| x + 1);

        // The store opens, every result that reads back is right, and what was lost is
        // what returned last before the kill.
        let store = Store::open(&store_dir).expect("the store opens after kill -9");
        memo::with_store(&store, || {
            for (x, at) in &returned {
                let misses = CRASH_RUNS.load(std::sync::atomic::Ordering::Relaxed);
                assert_eq!(
                    crash_square(*x),
                    x.wrapping_mul(*x).wrapping_add(7),
                    "round {round}"
                );
                if x % 4 == 0 {
                    assert_eq!(crash_blob(*x), vec![(x % 251) as u8; 16 << 10]);
                }
                if CRASH_RUNS.load(std::sync::atomic::Ordering::Relaxed) != misses {
                    lost += 1;
                    oldest_lost = oldest_lost.max(killed_at.saturating_sub(*at));
                }
            }
        });
        total += written - before;
        let stats = store.stats().unwrap();
        sizes.push((stats.disk_bytes, stats.bytes));
        drop(store);
    }
    let (disk, live) = *sizes.last().unwrap();
    eprintln!(
        "kill -9 × 50: {} of {total} returned results read back ({:.1}%); the oldest lost had \
         returned {oldest_lost} ms before its kill; file {disk} bytes for {live} bytes of results",
        total - lost,
        100.0 * (total - lost) as f64 / total.max(1) as f64
    );
    assert!(total > 1000, "the children wrote results");
    assert!(
        oldest_lost <= 1000,
        "a result that returned {oldest_lost} ms before the kill was lost"
    );
    let peak = sizes.iter().map(|(disk, _)| *disk).max().unwrap();
    assert!(
        peak <= 4 * live.max(1 << 20) + (16 << 20),
        "the file reached {peak} bytes for {live} bytes of results: {sizes:?}"
    );
}

/// 16 KiB, different for every `x`.
#[cached]
fn roomy(x: u64) -> Vec<u64> {
    (0..2048).map(|i| i ^ (x << 12)).collect()
}

/// In a child: fills its store with results, drops them all (the file is left mostly free
/// room), says so, and waits to be killed — so it never closes the store.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_leaves_room_and_is_killed() {
    if in_child() {
        for x in 0..1000 {
            roomy(x);
        }
        let store = memo::current_store().unwrap();
        store.flush().unwrap();
        store.clear().unwrap();
        store.flush().unwrap();
        println!("ready");
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// A process killed with its file mostly free room never compacted it; the next process
/// to open the store gives the room back, in the background.
#[test]
fn the_room_a_killed_process_left_is_given_back_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let mut process = child("child_leaves_room_and_is_killed", &store_dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(process.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("ready") {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the child ended early"
        );
    }
    process.kill().unwrap();
    process.wait().unwrap();
    let size = || memo_runtime::raw::database_bytes(&store_dir);
    let left = size();
    assert!(left > 8 << 20, "the child left {left} bytes");
    let store = Store::open(&store_dir).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while size() > left / 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(size() <= left / 4, "still {} of {left} bytes", size());
    drop(store);
}

// ---------------------------------------------------------------- corruption

#[cached]
fn damaged_text(x: u64) -> String {
    // Over 256 bytes: a blob, so blob files are exercised too.
    format!("{x}:").repeat(200)
}

#[test]
#[ignore = "run by a parent test in a child process"]
fn child_reads_a_damaged_store() {
    if in_child() {
        let mut recomputed = 0;
        for x in 0..50u64 {
            let before = memo::current_store()
                .and_then(|s| s.stats().ok())
                .map(|s| s.misses);
            assert_eq!(
                damaged_text(x),
                format!("{x}:").repeat(200),
                "never a wrong value"
            );
            let after = memo::current_store()
                .and_then(|s| s.stats().ok())
                .map(|s| s.misses);
            recomputed += usize::from(before != after);
        }
        let opened = memo::current_store().is_some();
        println!("opened {opened} recomputed {recomputed}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else if !path.ends_with(".gitignore") && !path.ends_with("holder.pid") {
            out.push(path);
        }
    }
}

#[test]
fn damaged_store_files_never_give_a_wrong_value() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = dir.path().join("pristine");
    {
        let store = Store::open(&pristine).unwrap();
        memo::with_store(&store, || (0..50).for_each(|x| drop(damaged_text(x))));
    }
    let mut random = Lcg(7);
    let rounds = 40;
    let (mut refused, mut recomputing, mut verified, mut healed) = (0, 0, 0, 0);
    for round in 0..rounds {
        let copy = dir.path().join(format!("round-{round}"));
        copy_dir(&pristine, &copy);
        let mut targets = Vec::new();
        files(&copy, &mut targets);
        targets.sort();
        let target = &targets[random.below(targets.len() as u64) as usize];
        let mut bytes = std::fs::read(target).unwrap();
        match random.below(3) {
            0 if !bytes.is_empty() => {
                for _ in 0..1 + random.below(8) {
                    let at = random.below(bytes.len() as u64) as usize;
                    bytes[at] ^= 1 << random.below(8);
                }
                std::fs::write(target, &bytes).unwrap();
            }
            1 => {
                bytes.truncate(random.below(bytes.len() as u64 + 1) as usize);
                std::fs::write(target, &bytes).unwrap();
            }
            _ => std::fs::remove_file(target).unwrap(),
        }
        // `memo verify`, before the program touches the store: damage it can see is
        // reported and removed; damage to the database's own structure is reported as
        // such, and left for the program to heal.
        if let Ok(store) = Store::builder(&copy).heal(false).open() {
            verified += match store.verify(&mut |_, _| {}) {
                Ok(report) => usize::from(!report.is_clean()),
                Err(memo::Error::Corrupt { .. }) => 1,
                Err(error) => panic!("round {round}: verify failed: {error}"),
            };
        }
        let out = child("child_reads_a_damaged_store", &copy)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "round {round} ({}): the program failed:\n{stderr}",
            target.display(),
        );
        // What the user sees: a line for each problem (a result that failed its hash, a
        // file replaced), never the engine's panic or a backtrace.
        let said: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(
            said.len() <= 2 && said.iter().all(|l| l.starts_with("memo warning: ")),
            "round {round}: {said:?}"
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        refused += usize::from(stdout.contains("opened false"));
        recomputing +=
            usize::from(stdout.contains("opened true") && !stdout.contains("recomputed 0"));
        healed += usize::from(copy.join("store.redb.damaged").exists());
        // The run after: the store is sound again, and quiet.
        let again = child("child_reads_a_damaged_store", &copy)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&again.stdout);
        assert!(
            again.status.success() && stdout.contains("opened true") && again.stderr.is_empty(),
            "round {round}: the next run still suffers:\n{stdout}\n{}",
            String::from_utf8_lossy(&again.stderr)
        );
    }
    assert_eq!(refused, 0, "no store stays unusable");
    eprintln!(
        "{rounds} rounds of damage, every value right: {healed} stores healed (moved aside, \
         fresh in the same run), {verified} damaged found by verify, {recomputing} runs \
         recomputed lost results; every next run quiet"
    );
}

// ---------------------------------------------------------------- a full filesystem

/// A tmpfs of `mib` MiB this test mounts, unmounted when dropped; `None` (and the test
/// skipped, saying so) where it cannot be mounted.
struct Tmpfs {
    _dir: tempfile::TempDir,
    mount: std::path::PathBuf,
}

impl Tmpfs {
    fn mount(mib: u32) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mount = dir.path().join("tiny");
        std::fs::create_dir(&mount).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&mount)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("skipped: cannot mount a {mib} MiB tmpfs here (needs root)");
            return None;
        }
        Some(Tmpfs { _dir: dir, mount })
    }

    fn path(&self) -> &Path {
        &self.mount
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount).status();
    }
}

#[cached]
fn bulky(x: u64) -> Vec<u8> {
    vec![(x % 251) as u8; 48 << 10]
}

#[test]
#[ignore = "run by a parent test in a child process"]
fn child_fills_the_disk() {
    if in_child() {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .init();
        for round in 0..2 {
            for x in 0..60u64 {
                let value = bulky(x);
                assert_eq!(value.len(), 48 << 10);
                assert!(
                    value.iter().all(|b| *b == (x % 251) as u8),
                    "round {round}: right value"
                );
            }
        }
        println!("done");
    }
}

#[test]
fn a_full_or_read_only_filesystem_gives_right_values_and_one_warning() {
    let Some(tiny) = Tmpfs::mount(1) else {
        return;
    };
    let mount = tiny.path();
    let out = child("child_fills_the_disk", &mount.join("store"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("done"));
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "one warning: {warnings:?}");
    assert!(
        warnings[0].contains("degraded") || warnings[0].contains("caching is off"),
        "{warnings:?}"
    );

    // The same store on a filesystem that became read-only: right values, one warning.
    let remounted = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(mount)
        .status()
        .is_ok_and(|s| s.success());
    assert!(remounted, "a tmpfs this test mounted can be made read-only");
    let out = child("child_fills_the_disk", &mount.join("store"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(
        warnings.len(),
        1,
        "one warning on a read-only store: {warnings:?}"
    );
}

/// 12 MiB: a result past the size at which it becomes a file beside the database.
static HUGE_RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[cached]
fn huge(x: u64) -> String {
    HUGE_RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("line {x:>8}\n").repeat(12 << 20 >> 4)
}

#[test]
#[ignore = "run by a parent test in a child process"]
fn child_stores_a_file_on_a_full_disk() {
    if in_child() {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .init();
        for _ in 0..2 {
            assert_eq!(huge(10), format!("line {:>8}\n", 10).repeat(12 << 20 >> 4));
        }
        let runs = HUGE_RUNS.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(runs, 2, "nothing was stored");
        println!("done");
    }
}

#[test]
fn a_disk_too_full_for_a_result_file_gives_the_value_one_warning_and_no_leftover() {
    let Some(small) = Tmpfs::mount(8) else {
        return;
    };
    let store = small.path().join("store");
    let out = child("child_stores_a_file_on_a_full_disk", &store)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("done"));
    // One warning, said by the call or by the store's writer, whichever met the full
    // disk first; about the disk, not the value.
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "one warning: {warnings:?}");
    assert!(warnings[0].contains("No space"), "{warnings:?}");
    assert!(!warnings[0].contains("cannot be stored"), "{warnings:?}");
    let left: Vec<_> = std::fs::read_dir(store.join("blobs"))
        .map(|listing| listing.flatten().map(|item| item.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "no half-written file stays: {left:?}");
}

static BULKY_RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[cached]
fn spacious(x: u64) -> Vec<u8> {
    BULKY_RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    vec![(x % 251) as u8; 48 << 10]
}

/// In a child: results while the disk is full, then the filler (`FILLER`) is deleted and
/// more results come; prints how many it computed.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_fills_then_frees_the_disk() {
    if in_child() {
        let first: u64 = std::env::var("FIRST").unwrap().parse().unwrap();
        if let Some(filler) = std::env::var_os("FILLER") {
            for x in 0..40 {
                assert_eq!(spacious(x)[0], (x % 251) as u8);
            }
            std::fs::remove_file(filler).unwrap();
            // Room again: within a second or two the store takes results once more.
            std::thread::sleep(Duration::from_millis(1500));
        }
        for x in first..first + 20 {
            assert_eq!(spacious(x)[0], (x % 251) as u8);
            std::thread::sleep(Duration::from_millis(100));
        }
        println!(
            "computed {}",
            BULKY_RUNS.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
}

static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

#[cached]
fn generational(x: u64) -> (u64, u64) {
    (x, GENERATION.load(std::sync::atomic::Ordering::SeqCst))
}

/// In a child: stores results, fills the disk (`FILLER_AT`), invalidates them, frees the
/// disk, and checks that nothing invalidated comes back — then or in the next process.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_invalidates_on_a_full_disk() {
    if in_child() {
        let store = memo::current_store().unwrap();
        if let Some(filler) = std::env::var_os("FILLER_AT") {
            for x in 0..20 {
                generational(x);
            }
            store.flush().unwrap();
            let mut file = std::fs::File::create(&filler).unwrap();
            let chunk = vec![1u8; 64 << 10];
            while std::io::Write::write_all(&mut file, &chunk).is_ok() {}
            drop(file);
            let name = store.functions().unwrap()[0].name.clone();
            store.invalidate_fn(&name).unwrap();
            let _ = store.flush(); // may fail: the disk is full
            std::fs::remove_file(&filler).unwrap();
            std::thread::sleep(Duration::from_millis(1500));
            let _ = store.flush();
        }
        GENERATION.store(2, std::sync::atomic::Ordering::SeqCst);
        for x in 0..20 {
            assert_eq!(generational(x), (x, 2), "an invalidated result came back");
        }
        store.flush().unwrap();
        println!("done");
    }
}

/// An invalidation made while the disk is full is not lost when the commit fails: the
/// removals are committed once there is room, and the invalidated results never return.
#[test]
fn an_invalidation_on_a_full_disk_is_not_lost() {
    let Some(tiny) = Tmpfs::mount(4) else {
        return;
    };
    let mount = tiny.path();
    let store = mount.join("store");
    for filler in [Some(mount.join("filler")), None] {
        let mut command = child("child_invalidates_on_a_full_disk", &store);
        if let Some(filler) = &filler {
            command.env("FILLER_AT", filler);
        }
        let out = command.output().unwrap();
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A disk that fills and then has room again: the store takes results again in the same
/// run (redb refuses a file after an I/O error until it is opened again, which memo does).
#[test]
fn a_disk_that_fills_then_frees_takes_results_again() {
    let Some(tiny) = Tmpfs::mount(4) else {
        return;
    };
    let mount = tiny.path();
    let store = mount.join("store");
    // The store first, then a filler that takes what room is left.
    drop(Store::open(&store).unwrap());
    let filler = mount.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let chunk = vec![1u8; 64 << 10];
    while std::io::Write::write_all(&mut file, &chunk).is_ok() {}
    drop(file);
    let out = child("child_fills_then_frees_the_disk", &store)
        .env("FILLER", &filler)
        .env("FIRST", "100")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // What it computed once the disk had room is stored: the next run hits most of it.
    let next = child("child_fills_then_frees_the_disk", &store)
        .env("FIRST", "100")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&next.stdout);
    let computed: usize = text
        .lines()
        .find_map(|l| {
            l.split_once("computed ")
                .map(|(_, n)| n.trim().parse().unwrap())
        })
        .unwrap();
    assert!(
        computed <= 3,
        "only {} of 20 results were stored after the disk freed: {text}",
        20 - computed
    );
}

/// The database of a store just dropped: the last handle can be let go of on another of
/// the store's threads a moment later (sled's file lock goes with it), so a `Locked` is
/// waited out.
fn raw_store(dir: &std::path::Path) -> memo_runtime::raw::RawStore {
    memo_runtime::raw::RawStore::open(dir).expect("the store's database opens raw")
}

/// Damage that gets past the storage engine's own checksums — results changed inside the
/// database — is what memo's hashes are for: `verify` reports exactly it, and every call
/// still returns the right value.
#[test]
fn damaged_results_are_reported_by_verify_and_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    {
        let store = Store::open(&store_dir).unwrap();
        memo::with_store(&store, || (0..50).for_each(|x| drop(damaged_text(x))));
    }
    let mut random = Lcg(99);
    for round in 0..10 {
        let damaged: usize = {
            let db = raw_store(&store_dir);
            let hashes = db.keys("blobs").unwrap();
            let mut hit = std::collections::HashSet::new();
            for _ in 0..1 + random.below(5) {
                let hash = &hashes[random.below(hashes.len() as u64) as usize];
                let mut bytes = db.get("blobs", hash).unwrap().unwrap();
                let at = random.below(bytes.len() as u64) as usize;
                bytes[at] ^= 0x20;
                db.insert("blobs", hash, &bytes).unwrap();
                hit.insert(hash.clone());
            }
            hit.len()
        };
        let store = Store::open(&store_dir).unwrap();
        let report = store.verify(&mut |_, _| {}).unwrap();
        assert_eq!(
            report.bad_blobs.len(),
            damaged,
            "round {round}: verify reports the damage"
        );
        assert_eq!(report.bad_entries as usize, damaged);
        memo::with_store(&store, || {
            for x in 0..50u64 {
                assert_eq!(
                    damaged_text(x),
                    format!("{x}:").repeat(200),
                    "round {round}"
                );
            }
        });
        assert!(
            store.verify(&mut |_, _| {}).unwrap().is_clean(),
            "recomputed and clean"
        );
    }
}

// Every test above again, on the sled engine.
memo_runtime::suite_again_on_sled!();
