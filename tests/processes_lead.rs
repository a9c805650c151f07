//! Who computes a key that several processes miss at once: the process that holds the
//! store hands out one lead per key — to its own callers as to those it serves — and the
//! others wait for the result. Async callers wait without blocking their executor. Every
//! process is real: this test binary, re-run on one ignored test.

#![cfg(unix)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use memo::cached;
use support::child::{in_child, piped as child, printed, wait_for};

fn go_file() -> std::ffi::OsString {
    std::env::var_os("GO").unwrap()
}

fn wait_for_go() {
    while !Path::new(&go_file()).exists() {
        std::thread::sleep(Duration::from_millis(1));
    }
}

const KEYS: u64 = 6;

static COMPUTED: AtomicU64 = AtomicU64::new(0);

#[cached]
fn slow_square(x: u64) -> u64 {
    COMPUTED.fetch_add(1, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(150));
    x * x
}

#[cached]
async fn slow_cube(x: u64) -> u64 {
    COMPUTED.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(250)).await;
    x * x * x
}

/// Starts `racers` children on `test`, and one holder that races too; lets them go at
/// once; the total each computed.
fn race(test: &str, racers: usize) -> Vec<u64> {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let go = dir.path().join("go");
    let mut holder = child("child_holds_and_races", &store)
        .env("GO", &go)
        .spawn()
        .unwrap();
    let holder_out = wait_for(&mut holder, "holding");
    let mut started: Vec<(Child, BufReader<ChildStdout>)> = (0..racers)
        .map(|_| {
            let mut racer = child(test, &store).env("GO", &go).spawn().unwrap();
            let out = wait_for(&mut racer, "started");
            (racer, out)
        })
        .collect();
    std::fs::write(&go, "").unwrap();
    started.push((holder, holder_out));
    started
        .into_iter()
        .map(|(mut process, out)| {
            let n = printed(out, "computed ");
            assert!(process.wait().unwrap().success());
            n
        })
        .collect()
}

/// In a child: holds the store, then races on the slow keys with the others.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_holds_and_races() {
    if in_child() {
        // The first call opens the store, which this process then holds.
        assert_eq!(slow_square(1 << 20), 1 << 40);
        COMPUTED.store(0, Ordering::Relaxed);
        println!("holding");
        wait_for_go();
        for x in 0..KEYS {
            assert_eq!(slow_square(x), x * x);
        }
        println!("computed {}", COMPUTED.load(Ordering::Relaxed));
        // Serves the others until they are done.
        std::thread::sleep(Duration::from_secs(3));
    }
}

/// In a child: the slow keys, in order, once the test says go.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_races_on_slow_keys() {
    if in_child() {
        println!("started");
        wait_for_go();
        for x in 0..KEYS {
            assert_eq!(slow_square(x), x * x);
        }
        println!("computed {}", COMPUTED.load(Ordering::Relaxed));
    }
}

/// The holder's own calls and its clients' share one lead per key: between them, each
/// key is computed once (a waiter whose leader vanished may compute it again, so one
/// spare is allowed).
#[test]
fn the_holder_and_the_processes_it_serves_compute_each_key_once_between_them() {
    let counts = race("child_races_on_slow_keys", 3);
    let total: u64 = counts.iter().sum();
    assert!(
        total <= KEYS + 1,
        "{total} computations of {KEYS} keys across the holder and its clients: {counts:?}"
    );
}

/// In a child: the slow async keys on a one-thread executor, with a ticker task beside
/// them; prints how many it computed and the longest the ticker was kept waiting.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_races_async() {
    if in_child() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            // Opens the store (this process is served by the holder).
            assert_eq!(slow_cube(1 << 10).await, 1 << 30);
            COMPUTED.store(0, Ordering::Relaxed);
            println!("started");
            wait_for_go();
            let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let ticker = tokio::spawn({
                let done = std::sync::Arc::clone(&done);
                async move {
                    let mut longest = Duration::ZERO;
                    let mut last = Instant::now();
                    while !done.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        longest = longest.max(last.elapsed());
                        last = Instant::now();
                    }
                    longest
                }
            });
            for x in 0..KEYS {
                assert_eq!(slow_cube(x).await, x * x * x);
            }
            done.store(true, Ordering::Relaxed);
            let longest = ticker.await.unwrap();
            println!("computed {}", COMPUTED.load(Ordering::Relaxed));
            println!("stalled {}", longest.as_millis());
        });
    }
}

/// Async callers in several processes compute each key once between them, and while one
/// waits for another process's computation its executor goes on running other tasks.
#[test]
fn async_callers_in_several_processes_compute_each_key_once_without_blocking_their_executor() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let go = dir.path().join("go");
    let mut holder = child("child_holds_and_races", &store)
        .env("GO", dir.path().join("never"))
        .spawn()
        .unwrap();
    let _held = wait_for(&mut holder, "holding");
    let racers: Vec<(Child, BufReader<ChildStdout>)> = (0..3)
        .map(|_| {
            let mut racer = child("child_races_async", &store)
                .env("GO", &go)
                .spawn()
                .unwrap();
            let out = wait_for(&mut racer, "started");
            (racer, out)
        })
        .collect();
    std::fs::write(&go, "").unwrap();
    let mut total = 0;
    for (mut racer, out) in racers {
        let lines: Vec<String> = out.lines().map_while(Result::ok).collect();
        assert!(racer.wait().unwrap().success(), "{lines:?}");
        let number = |label: &str| -> u64 {
            lines
                .iter()
                .find_map(|line| line.strip_prefix(label)?.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {label:?} in {lines:?}"))
        };
        total += number("computed");
        // A wait that blocked the thread would hold the ticker for a whole computation
        // (250 ms); a busy machine delays it by far less.
        let stalled = number("stalled");
        assert!(
            stalled < 200,
            "the executor was blocked for {stalled} ms while its call waited"
        );
    }
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(
        total <= KEYS + 1,
        "{total} computations of {KEYS} keys across the processes"
    );
}

// Every test above again, on the sled engine.
memo_runtime::suite_again_on_sled!();
