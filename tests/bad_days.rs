//! Bad days on one machine: a damaged store heals in the run that finds it, results that
//! postcard cannot read back still cache, and no call turns into a hang or a panic — a
//! call on the key its own thread is computing, a computing call that panics, a result
//! whose `Serialize` panics. What a user sees is checked on stderr of real processes (this
//! test binary, re-run on one ignored test) with no tracing subscriber installed.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::time::Duration;

use memo::{CacheKey, cached};
use serde::{Deserialize, Serialize};
use support::child::{child, in_child};
use support::{hit, in_store, miss, ran};

/// What a child run printed: how many results it computed, and its stderr lines that are
/// not the test harness's own.
struct Run {
    computed: usize,
    stderr: Vec<String>,
}

fn run(name: &str, dir: &Path, env: &[(&str, &str)]) -> Run {
    let mut command = child(name, dir);
    command.envs(env.iter().copied());
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let computed = stdout
        .lines()
        .find_map(|line| line.split_once("computed ").map(|(_, count)| count))
        .unwrap_or_else(|| panic!("no count in {stdout}"))
        .trim()
        .parse()
        .unwrap();
    Run {
        computed,
        stderr: stderr
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(str::to_owned)
            .collect(),
    }
}

// ---------------------------------------------------------------- a damaged store

static COMPUTED: AtomicUsize = AtomicUsize::new(0);

#[cached]
fn table_row(x: u64) -> Vec<u64> {
    COMPUTED.fetch_add(1, Ordering::Relaxed);
    (0..40).map(|i| x * 1000 + i).collect()
}

const ROWS: u64 = 300;

/// In a child: every row through the default store, each checked; prints how many ran.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_reads_rows() {
    if in_child() {
        for x in 0..ROWS {
            assert_eq!(
                table_row(x),
                (0..40).map(|i| x * 1000 + i).collect::<Vec<_>>()
            );
        }
        println!("computed {}", COMPUTED.load(Ordering::Relaxed));
    }
}

/// Damages the database file of the store in `dir` with `damage`, then runs the program
/// three times: the first heals with one warning line and nothing else on stderr (no
/// panic message, no backtrace), stores afresh, and the next two hit everything and print
/// nothing.
fn heals_after(name: &str, damage: impl FnOnce(&Path)) {
    let dir = tempfile::tempdir().unwrap();
    let first = run("child_reads_rows", dir.path(), &[]);
    assert_eq!(first.computed, ROWS as usize);
    assert!(first.stderr.is_empty(), "{:?}", first.stderr);
    let file = dir.path().join("store.redb");
    damage(&file);
    let healing = run("child_reads_rows", dir.path(), &[]);
    assert_eq!(
        healing.computed, ROWS as usize,
        "{name}: everything is recomputed"
    );
    assert_eq!(
        healing.stderr.len(),
        1,
        "{name}: one line: {:?}",
        healing.stderr
    );
    let warning = &healing.stderr[0];
    assert!(warning.starts_with("memo warning: "), "{warning}");
    assert!(warning.contains("was damaged"), "{warning}");
    assert!(warning.contains("store.redb.damaged"), "{warning}");
    assert!(dir.path().join("store.redb.damaged").is_file());
    for round in 0..2 {
        let again = run("child_reads_rows", dir.path(), &[]);
        assert_eq!(again.computed, 0, "{name}, run {round}: every row hits");
        assert!(again.stderr.is_empty(), "{name}: {:?}", again.stderr);
    }
}

#[test]
fn a_store_with_flipped_bytes_heals_in_the_run_that_finds_it() {
    heals_after("flipped header", |file| {
        let mut bytes = std::fs::read(file).unwrap();
        for byte in &mut bytes[..512] {
            *byte ^= 0xA5;
        }
        std::fs::write(file, bytes).unwrap();
    });
}

#[test]
fn a_store_cut_short_heals_in_the_run_that_finds_it() {
    heals_after("truncated", |file| {
        let len = std::fs::metadata(file).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(file)
            .unwrap()
            .set_len(len / 3)
            .unwrap();
    });
}

#[test]
fn a_store_overwritten_with_garbage_heals() {
    heals_after("garbage", |file| {
        let len = std::fs::metadata(file).unwrap().len() as usize;
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let garbage: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        std::fs::write(file, garbage).unwrap();
    });
}

/// In a child: a panic hook installed before memo's is still the one that hears the
/// program's own panics; memo's contained ones it never hears.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_keeps_its_panic_hook() {
    if in_child() {
        std::panic::set_hook(Box::new(|info| {
            eprintln!("user hook: {}", info.payload_as_str().unwrap_or("?"));
        }));
        for x in 0..ROWS {
            table_row(x);
        }
        let _ = std::panic::catch_unwind(|| panic!("the program's own"));
        println!("computed {}", COMPUTED.load(Ordering::Relaxed));
    }
}

#[test]
fn the_programs_own_panic_hook_still_hears_its_panics() {
    let dir = tempfile::tempdir().unwrap();
    run("child_reads_rows", dir.path(), &[]);
    std::fs::write(dir.path().join("store.redb"), b"not a database at all").unwrap();
    let out = run("child_keeps_its_panic_hook", dir.path(), &[]);
    assert_eq!(out.computed, ROWS as usize);
    assert_eq!(out.stderr.len(), 2, "{:?}", out.stderr);
    assert!(out.stderr[0].contains("was damaged"), "{:?}", out.stderr);
    assert_eq!(out.stderr[1], "user hook: the program's own");
}

#[test]
fn memo_log_off_silences_and_debug_tells_more() {
    let damage = |dir: &Path| std::fs::write(dir.join("store.redb"), b"garbage").unwrap();
    let dir = tempfile::tempdir().unwrap();
    damage(dir.path());
    let quiet = run("child_reads_rows", dir.path(), &[("MEMO_LOG", "off")]);
    assert!(quiet.stderr.is_empty(), "{:?}", quiet.stderr);
    let dir = tempfile::tempdir().unwrap();
    damage(dir.path());
    let told = run("child_reads_rows", dir.path(), &[("MEMO_LOG", "debug")]);
    assert!(
        told.stderr.iter().any(|l| l.starts_with("memo debug: ")),
        "{:?}",
        told.stderr
    );
    assert_eq!(
        told.stderr
            .iter()
            .filter(|l| l.starts_with("memo warning: "))
            .count(),
        1,
        "{:?}",
        told.stderr
    );
}

// ---------------------------------------------------------------- results postcard cannot read

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Reading {
    Number(f64),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
enum Shape {
    Circle { r: u32 },
    Square { side: u32 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tagged {
    id: u32,
    #[serde(flatten)]
    extra: BTreeMap<String, String>,
}

#[cached]
fn parsed(text: &str) -> serde_json::Value {
    ran();
    serde_json::from_str(text).unwrap()
}

#[cached]
fn reading(x: u32) -> Reading {
    ran();
    if x % 2 == 0 {
        Reading::Number(f64::from(x) / 2.0)
    } else {
        Reading::Text(format!("odd {x}"))
    }
}

#[cached]
fn shape(x: u32) -> Vec<Shape> {
    ran();
    vec![Shape::Circle { r: x }, Shape::Square { side: x + 1 }]
}

#[cached]
fn tagged(x: u32) -> Tagged {
    ran();
    Tagged {
        id: x,
        extra: BTreeMap::from([("colour".into(), format!("c{x}"))]),
    }
}

#[test]
fn self_describing_results_are_stored_and_read_back() {
    in_store(|store| {
        let text = r#"{"name": "memo", "tags": ["a", 1, 2.5, null], "nested": {"ok": true}}"#;
        let value = miss(|| parsed(text));
        store.flush().unwrap();
        memo::set_memory_budget(0);
        assert_eq!(hit(|| parsed(text)), value);
        for x in 0..4 {
            let first = miss(|| reading(x));
            assert_eq!(hit(|| reading(x)), first);
            let shapes = miss(|| shape(x));
            assert_eq!(hit(|| shape(x)), shapes);
            let t = miss(|| tagged(x));
            assert_eq!(hit(|| tagged(x)), t);
        }
        assert_eq!(store.stats().unwrap().entries, 13);
    });
}

// ---------------------------------------------------------------- no hangs

#[derive(CacheKey)]
struct Depth {
    n: u32,
    #[cache_key(skip)]
    level: u32,
}

/// Calls itself with the same key: `level` is left out of it.
#[cached]
fn nested(depth: Depth) -> u32 {
    if depth.level < 3 {
        nested(Depth {
            n: depth.n,
            level: depth.level + 1,
        }) + 1
    } else {
        depth.n
    }
}

#[test]
fn a_call_on_the_key_its_own_thread_is_computing_does_not_wait_for_itself() {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let value = in_store(|_| nested(Depth { n: 10, level: 0 }));
        send.send(value).unwrap();
    });
    let value = receive
        .recv_timeout(Duration::from_secs(30))
        .expect("the call deadlocked on its own key");
    assert_eq!(value, 13);
}

/// The async form: calls itself with the same key, awaiting the nested call.
#[cached]
async fn nested_async(depth: Depth) -> u32 {
    if depth.level < 3 {
        let inner = Box::pin(nested_async(Depth {
            n: depth.n,
            level: depth.level + 1,
        }));
        inner.await + 1
    } else {
        depth.n
    }
}

#[test]
fn an_async_call_on_the_key_its_own_task_is_computing_does_not_wait_for_itself() {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let store = memo::Store::temporary().unwrap();
        let value = runtime.block_on(memo::with_store_async(
            &store,
            nested_async(Depth { n: 5, level: 0 }),
        ));
        send.send(value).unwrap();
    });
    let value = receive
        .recv_timeout(Duration::from_secs(30))
        .expect("the async call waited for itself");
    assert_eq!(value, 8);
}

static RUNS_OF_FLAKY: AtomicUsize = AtomicUsize::new(0);
static FIRST_PANICS: AtomicBool = AtomicBool::new(true);

#[cached]
fn flaky(x: u64) -> u64 {
    RUNS_OF_FLAKY.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(200));
    if FIRST_PANICS.swap(false, Ordering::SeqCst) {
        panic!("the first run fails");
    }
    x * 2
}

#[test]
fn when_the_computing_call_panics_one_waiter_takes_over_for_all() {
    let store = memo::Store::temporary().unwrap();
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                if i > 0 {
                    // The panicking call leads.
                    std::thread::sleep(Duration::from_millis(50));
                }
                memo::with_store(&store, || {
                    std::panic::catch_unwind(|| flaky(21)).map_err(|_| i)
                })
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        results.iter().filter(|r| r.is_err()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .all(|v| *v == 42)
    );
    assert_eq!(
        RUNS_OF_FLAKY.load(Ordering::SeqCst),
        2,
        "the panicked run and one takeover; the other six waited for it"
    );
}

// ---------------------------------------------------------------- a Serialize that panics

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Fragile(u32);

impl Serialize for Fragile {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0 == 13 {
            panic!("13 cannot be written");
        }
        serializer.serialize_u32(self.0)
    }
}

static FRAGILE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached]
fn fragile(x: u32) -> Fragile {
    FRAGILE_RUNS.fetch_add(1, Ordering::Relaxed);
    Fragile(x)
}

/// In a child: a result whose `Serialize` panics is returned, uncached; others cache.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_with_a_fragile_result() {
    if in_child() {
        for _ in 0..3 {
            assert_eq!(fragile(13), Fragile(13));
            assert_eq!(fragile(2), Fragile(2));
        }
        println!("computed {}", FRAGILE_RUNS.load(Ordering::Relaxed));
    }
}

#[test]
fn a_serialize_that_panics_returns_the_value_uncached_with_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let out = run("child_with_a_fragile_result", dir.path(), &[]);
    assert_eq!(out.computed, 4, "13 three times, 2 once");
    assert_eq!(out.stderr.len(), 1, "{:?}", out.stderr);
    assert!(
        out.stderr[0].contains("fragile") && out.stderr[0].contains("13 cannot be written"),
        "{:?}",
        out.stderr
    );
}

/// In a child: the store's file is cut short under the running program (another process,
/// a disk tool); every value stays right.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_loses_its_file_while_running() {
    if in_child() {
        for x in 0..ROWS {
            table_row(x);
        }
        let store = memo::current_store().unwrap();
        store.flush().unwrap();
        let file = store.dir().join("store.redb");
        let cut: u64 = std::env::var("CUT").unwrap().parse().unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .unwrap()
            .set_len(cut)
            .unwrap();
        memo::set_memory_budget(0);
        for x in ROWS..2 * ROWS {
            assert_eq!(
                table_row(x),
                (0..40).map(|i| x * 1000 + i).collect::<Vec<_>>()
            );
        }
        std::thread::spawn(|| {
            for x in 0..2 * ROWS {
                assert_eq!(
                    table_row(x),
                    (0..40).map(|i| x * 1000 + i).collect::<Vec<_>>()
                );
            }
        })
        .join()
        .unwrap();
        println!("computed {}", COMPUTED.load(Ordering::Relaxed));
    }
}

/// The running program's reads are served from what it holds, so the damage is found
/// by the next program that opens the file: it heals there, with one warning.
#[test]
fn a_store_cut_short_under_a_running_program_heals_in_the_next() {
    for cut in ["0", "4096"] {
        let dir = tempfile::tempdir().unwrap();
        let running = run(
            "child_loses_its_file_while_running",
            dir.path(),
            &[("CUT", cut)],
        );
        assert_eq!(running.computed, 2 * ROWS as usize);
        assert!(
            running.stderr.len() <= 1,
            "cut to {cut}: {:?}",
            running.stderr
        );
        let next = run("child_reads_rows", dir.path(), &[]);
        assert!(next.stderr.len() <= 1, "cut to {cut}: {:?}", next.stderr);
        assert!(
            next.stderr.iter().all(|l| l.contains("was damaged")),
            "cut to {cut}: {:?}",
            next.stderr
        );
        let after = run("child_reads_rows", dir.path(), &[]);
        assert_eq!(after.computed, 0, "cut to {cut}: every row hits");
        assert!(after.stderr.is_empty(), "cut to {cut}: {:?}", after.stderr);
    }
}
