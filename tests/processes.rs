//! The store outlives its processes: many processes on one store with the holder killed
//! mid-run, a holder stopped with SIGSTOP, a store directory whose socket path is past the
//! platform's limit, a child forked with writes in flight. Every process is real: this
//! test binary, re-run on one ignored test.

#![cfg(unix)]

mod support;

use std::io::BufReader;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use memo::cached;
use support::child::{in_child, piped as child, printed, wait_for};

fn env_u64(name: &str) -> u64 {
    std::env::var(name).unwrap().parse().unwrap()
}

fn computed(out: BufReader<std::process::ChildStdout>) -> u64 {
    printed(out, "computed ")
}

static COMPUTED: AtomicUsize = AtomicUsize::new(0);

#[cached]
fn shared_work(x: u64) -> u64 {
    COMPUTED.fetch_add(1, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(2));
    x * 3 + 1
}

// ---------------------------------------------------------------- takeover

/// In a child: holds the store (its first call opens it), says so, and waits to be killed.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_holds_until_killed() {
    if in_child() {
        shared_work(1 << 40);
        println!("holding");
        std::thread::sleep(Duration::from_secs(120));
    }
}

/// In a child: `PASSES` passes over `KEYS` keys; prints how many it computed.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_works_in_passes() {
    if in_child() {
        let (keys, passes) = (env_u64("KEYS"), env_u64("PASSES"));
        println!("started");
        let work = || {
            for _ in 0..passes {
                for x in 0..keys {
                    assert_eq!(shared_work(x), x * 3 + 1);
                }
            }
        };
        // Through a handle the program opened itself, or through the default store.
        if std::env::var_os("EXPLICIT").is_some() {
            let dir = std::env::var_os("MEMO_DIR").unwrap();
            let store = memo::Store::open(&dir).unwrap();
            memo::with_store(&store, work);
        } else {
            work();
        }
        println!("computed {}", COMPUTED.load(Ordering::Relaxed));
    }
}

/// Eight processes start at once on a fresh store (half through the default store, half
/// through a handle they opened); mid-run, the one that holds the store is killed. None is left uncached: each key is computed at most once per process (plus
/// the one call that finds the holder gone), so the later passes are hits.
#[test]
fn every_process_stays_on_the_cache_when_the_holder_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let mut holder = child("child_holds_until_killed", &store).spawn().unwrap();
    let _held = wait_for(&mut holder, "holding");
    let (keys, passes) = (60u64, 4u64);
    let mut workers: Vec<Child> = (0..8)
        .map(|i| {
            let mut worker = child("child_works_in_passes", &store);
            if i % 2 == 1 {
                worker.env("EXPLICIT", "1");
            }
            worker
                .env("KEYS", keys.to_string())
                .env("PASSES", passes.to_string())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(150));
    holder.kill().unwrap(); // SIGKILL, mid-run
    holder.wait().unwrap();
    let counts: Vec<u64> = workers
        .iter_mut()
        .map(|worker| {
            let out = BufReader::new(worker.stdout.take().unwrap());
            let n = computed(out);
            assert!(worker.wait().unwrap().success());
            n
        })
        .collect();
    for (i, n) in counts.iter().enumerate() {
        assert!(
            *n <= keys + 2,
            "process {i} computed {n} of {} calls: it fell off the cache ({counts:?})",
            keys * passes
        );
    }
}

#[cached]
fn slow_work(x: u64) -> u64 {
    COMPUTED.fetch_add(1, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(30));
    x * 7
}

/// In a child: waits for `GO` to exist, then computes `KEYS` slow keys in order.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_races_on_slow_keys() {
    if in_child() {
        let keys = env_u64("KEYS");
        let go = std::env::var_os("GO").unwrap();
        println!("started");
        while !Path::new(&go).exists() {
            std::thread::sleep(Duration::from_millis(1));
        }
        for x in 0..keys {
            assert_eq!(slow_work(x), x * 7);
        }
        println!("computed {}", COMPUTED.load(Ordering::Relaxed));
    }
}

/// Six processes on one store compute the same slow keys at the same moment: the holder
/// arbitrates, so each key is computed once in all (the others wait for it and hit).
#[test]
fn processes_sharing_a_store_compute_each_key_once_between_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let go = dir.path().join("go");
    let mut holder = child("child_holds_until_killed", &store).spawn().unwrap();
    let _held = wait_for(&mut holder, "holding");
    let keys = 20u64;
    let racers: Vec<(Child, BufReader<std::process::ChildStdout>)> = (0..6)
        .map(|_| {
            let mut racer = child("child_races_on_slow_keys", &store)
                .env("KEYS", keys.to_string())
                .env("GO", &go)
                .spawn()
                .unwrap();
            let out = wait_for(&mut racer, "started");
            (racer, out)
        })
        .collect();
    std::fs::write(&go, "").unwrap();
    let counts: Vec<u64> = racers
        .into_iter()
        .map(|(mut racer, out)| {
            let n = computed(out);
            assert!(racer.wait().unwrap().success());
            n
        })
        .collect();
    holder.kill().unwrap();
    holder.wait().unwrap();
    let total: u64 = counts.iter().sum();
    assert!(
        total <= keys + 2,
        "{total} computations of {keys} keys across the processes: {counts:?}"
    );
}

// ---------------------------------------------------------------- a hung holder

/// In a child: calls `KEYS` keys one after another for `SECONDS`, and prints the longest
/// call.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_times_its_calls() {
    if in_child() {
        let seconds = env_u64("SECONDS");
        println!("started");
        let start = Instant::now();
        let mut longest = Duration::ZERO;
        let mut x = 1_000_000;
        while start.elapsed() < Duration::from_secs(seconds) {
            let call = Instant::now();
            assert_eq!(shared_work(x), x * 3 + 1);
            longest = longest.max(call.elapsed());
            x += 1;
        }
        println!("longest {}", longest.as_millis());
        println!("computed {}", COMPUTED.load(Ordering::Relaxed));
    }
}

/// The holder is stopped (SIGSTOP) for 4 s while another process calls: no call waits
/// more than a short, bounded time for it (the 10 s of a plain timeout would show).
#[test]
fn a_stopped_holder_costs_a_call_a_bounded_wait() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let mut holder = child("child_holds_until_killed", &store).spawn().unwrap();
    let _held = wait_for(&mut holder, "holding");
    let pid = holder.id() as libc::pid_t;
    let mut caller = child("child_times_its_calls", &store)
        .env("SECONDS", "6")
        .spawn()
        .unwrap();
    let out = wait_for(&mut caller, "started");
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: signalling a child this test spawned.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    std::thread::sleep(Duration::from_secs(4));
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let longest = printed(out, "longest ");
    assert!(caller.wait().unwrap().success());
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(
        longest < 1000,
        "a call waited {longest} ms for a stopped holder"
    );
}

// ---------------------------------------------------------------- a long socket path

/// A store directory so deep that `memo.sock` in it is past the 108 bytes a socket
/// address holds: the holder still serves, and a second process hits what it computed.
#[test]
fn a_store_past_the_socket_path_limit_is_still_shared() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = dir.path().to_owned();
    while store.join("memo.sock").as_os_str().len() <= 120 {
        store = store.join("a-rather-long-directory-name");
    }
    let mut holder = child("child_holds_until_killed", &store).spawn().unwrap();
    let _held = wait_for(&mut holder, "holding");
    let first = child("child_works_in_passes", &store)
        .env("KEYS", "20")
        .env("PASSES", "1")
        .output()
        .unwrap();
    assert!(first.status.success());
    let second = child("child_works_in_passes", &store)
        .env("KEYS", "20")
        .env("PASSES", "1")
        .output()
        .unwrap();
    holder.kill().unwrap();
    holder.wait().unwrap();
    let text = String::from_utf8_lossy(&second.stdout);
    assert!(
        text.contains("computed 0"),
        "the second process hit nothing: {text}"
    );
}

// ---------------------------------------------------------------- fork

#[cached]
fn bulky(x: u64) -> Vec<u8> {
    vec![(x % 251) as u8; 128 << 10]
}

/// In a child: `ROUNDS` times, leaves its store's file mostly free room (what a process
/// closing it would compact) and forks a child of its own that reads results or only
/// exits, normally; every other round the parent writes while the child runs, and in the
/// others it checks that the child's exit left the file as it was.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_forks_with_writes_in_flight() {
    if in_child() {
        let rounds = env_u64("ROUNDS");
        let store = memo::current_store().unwrap();
        for round in 0..rounds {
            let base = round * 1000;
            for x in base..base + 100 {
                bulky(x);
            }
            store.flush().unwrap();
            store
                .invalidate_fn(&store.functions().unwrap()[0].name)
                .unwrap();
            for x in base..base + 20 {
                bulky(x);
            }
            store.flush().unwrap();
            // SAFETY: the child only makes cached calls and exits; memo's own handles are
            // the parent's, and the child opens the store anew.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                // Half the children read results; the others only exit, which is what
                // once closed (and compacted) the parent's database under it.
                if round % 2 == 1 {
                    for x in base..base + 20 {
                        if bulky(x) != vec![(x % 251) as u8; 128 << 10] {
                            std::process::exit(3);
                        }
                    }
                } else {
                    std::thread::sleep(Duration::from_millis(20));
                }
                std::process::exit(0); // atexit handlers run: nothing of the parent's closes
            }
            let hash = || blake3::hash(&memo_runtime::raw::database_contents(store.dir()));
            let mut status = 0;
            if round % 2 == 0 {
                // The parent is still while the child exits: the file must not change.
                let before = hash();
                // SAFETY: waiting for the child forked above.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                assert_eq!(
                    hash(),
                    before,
                    "round {round}: the forked child wrote the file"
                );
            }
            for x in base + 20..base + 60 {
                bulky(x);
            }
            if round % 2 == 1 {
                // SAFETY: waiting for the child forked above.
                unsafe { libc::waitpid(pid, &mut status, 0) };
            }
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "round {round}: the forked child failed ({status})"
            );
        }
        store.flush().unwrap();
        println!("computed {}", COMPUTED.load(Ordering::Relaxed));
    }
}

#[test]
fn a_forked_child_never_touches_its_parents_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let rounds = 6u64;
    let out = child("child_forks_with_writes_in_flight", &store)
        .env("ROUNDS", rounds.to_string())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The parent's store is sound, and holds what the parent computed last.
    let diagnosis = memo::Store::diagnose(&store);
    assert!(diagnosis.is_healthy(), "{diagnosis:?}");
    let store = memo::Store::open(&store).unwrap();
    let report = store.verify(&mut |_, _| {}).unwrap();
    assert!(report.is_clean(), "{report:?}");
    let misses = store.stats().unwrap().misses;
    memo::with_store(&store, || {
        let base = (rounds - 1) * 1000;
        for x in base..base + 60 {
            assert_eq!(bulky(x), vec![(x % 251) as u8; 128 << 10]);
        }
    });
    assert_eq!(
        store.stats().unwrap().misses,
        misses,
        "every result is there"
    );
}

/// In a child: holds the store, forks a child that outlives it without touching memo,
/// and exits.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_forks_a_sleeper_and_exits() {
    if in_child() {
        shared_work(1 << 41);
        // SAFETY: the child only sleeps and exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: the sleeper lets go of the pipes the test reads, so that the test
            // sees its parent end; it then only sleeps and ends without the parent's exit
            // handlers.
            unsafe {
                libc::close(1);
                libc::close(2);
            }
            std::thread::sleep(Duration::from_secs(5));
            // SAFETY: as above.
            unsafe { libc::_exit(0) };
        }
        println!("forked {pid}");
    }
}

/// A forked child that outlives the holder does not keep the store locked: the next
/// process takes it over at once and caches.
#[test]
fn a_forked_child_that_outlives_the_holder_does_not_keep_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let out = child("child_forks_a_sleeper_and_exits", &store)
        .output()
        .unwrap();
    assert!(out.status.success());
    let worker = child("child_works_in_passes", &store)
        .env("KEYS", "20")
        .env("PASSES", "3")
        .output()
        .unwrap();
    assert!(worker.status.success());
    let text = String::from_utf8_lossy(&worker.stdout);
    assert!(
        text.contains("computed 20"),
        "the store was left locked by the sleeping child: {text}"
    );
}

static VERSION: AtomicUsize = AtomicUsize::new(1);

#[cached]
fn versioned(x: u64) -> usize {
    let _ = x;
    VERSION.load(Ordering::SeqCst)
}

/// In a child: caches a result, forks, refreshes it while the forked child waits, and
/// checks that the child sees the refreshed value, not the one its memory inherited.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_refreshes_under_a_forked_child() {
    if in_child() {
        let signal = std::path::PathBuf::from(std::env::var_os("SIGNAL").unwrap());
        assert_eq!(versioned(0), 1);
        assert_eq!(versioned(0), 1); // warm in this process's tiers
        // SAFETY: the child only waits, makes a cached call, and ends.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            while !signal.exists() {
                std::thread::sleep(Duration::from_millis(2));
            }
            let code = if versioned(0) == 2 { 0 } else { 3 };
            // SAFETY: ends the child without the parent's exit handlers.
            unsafe { libc::_exit(code) };
        }
        VERSION.store(2, Ordering::SeqCst);
        assert_eq!(memo::refresh(|| versioned(0)), 2);
        memo::current_store().unwrap().flush().unwrap();
        std::fs::write(&signal, "").unwrap();
        let mut status = 0;
        // SAFETY: waiting for the child forked above.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "the forked child served the value it inherited ({status})"
        );
        println!("computed 0");
    }
}

#[test]
fn a_forked_child_never_serves_what_its_memory_inherited() {
    let dir = tempfile::tempdir().unwrap();
    let out = child(
        "child_refreshes_under_a_forked_child",
        &dir.path().join("store"),
    )
    .env("SIGNAL", dir.path().join("refreshed"))
    .stderr(Stdio::piped())
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// Every test above again, on the sled engine.
memo_runtime::suite_again_on_sled!();
