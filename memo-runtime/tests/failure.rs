//! The failure policy: results survive a normal exit, and a store that is locked, corrupt,
//! damaged or disabled never breaks the program. Several cases run in a child process (this
//! test binary, re-run on one ignored test) because the default store and the exit path are
//! per process.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use memo_runtime::{Error, Store};
use support::{Runs, square};

const CHILD: &str = "MEMO_TEST_CHILD";

/// Runs the ignored test `name` of this binary in a child process with `env`.
fn child(name: &str, env: &[(&str, &Path)]) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env_remove("MEMO_DIR")
        .env_remove("MEMO_DISABLE");
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

fn run_child(name: &str, env: &[(&str, &Path)]) {
    let output = child(name, env).output().unwrap();
    assert!(
        output.status.success(),
        "child {name} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// The child's work: one cached call through the default store (`MEMO_DIR`).
fn compute_in_default_store() -> Runs {
    let runs = Runs::default();
    let site = site!("failure::square");
    let value = memo_runtime::call::<memo_runtime::Plain<u64>>(
        site,
        &support::key(site, 12),
        memo_runtime::Share::typed(),
        || {
            runs.bump();
            144
        },
    );
    assert_eq!(value, 144);
    runs
}

fn assert_stored(dir: &Path) {
    let store = Store::open(dir).unwrap();
    let runs = Runs::default();
    assert_eq!(square(&store, site!("failure::square"), 12, &runs), 144);
    assert_eq!(runs.get(), 0, "the result the child computed is a hit");
}

#[test]
#[ignore = "run by a parent test in a child process"]
fn child_computes_and_returns() {
    if in_child() {
        compute_in_default_store();
    }
}

#[test]
#[ignore = "run by a parent test in a child process"]
fn child_computes_and_exits() {
    if in_child() {
        compute_in_default_store();
        std::process::exit(0);
    }
}

#[test]
fn a_result_computed_before_main_returns_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    run_child("child_computes_and_returns", &[("MEMO_DIR", dir.path())]);
    assert_stored(dir.path());
}

#[test]
fn a_result_computed_before_process_exit_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    run_child("child_computes_and_exits", &[("MEMO_DIR", dir.path())]);
    assert_stored(dir.path());
}

#[test]
#[ignore = "run by a parent test in a child process"]
fn child_holds_the_store() {
    if in_child() {
        let store = Store::open(std::env::var_os("MEMO_DIR").unwrap()).unwrap();
        println!("ready");
        std::io::stdout().flush().unwrap();
        // Hold the store until the parent closes our stdin; `clear` empties it.
        for line in std::io::stdin().lines() {
            if line.unwrap() == "clear" {
                store.clear().unwrap();
                println!("cleared");
                std::io::stdout().flush().unwrap();
            }
        }
    }
}

/// In a child: cached calls through a default store that cannot be used run uncached,
/// and one warning says why.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_runs_uncached_with_one_warning() {
    if in_child() {
        let expected = std::env::var("EXPECTED_WARNING").unwrap();
        let (runs, logged) = support::warnings(|| {
            let runs = compute_in_default_store();
            compute_in_default_store();
            compute_in_default_store();
            runs.get() + 2
        });
        assert_eq!(runs, 3, "nothing was cached, nothing failed");
        assert_eq!(logged.len(), 1, "one warning: {logged:?}");
        assert!(logged[0].contains(&expected), "{logged:?}");
    }
}

fn run_uncached_child(dir: &Path, expected_warning: &str) {
    let output = child("child_runs_uncached_with_one_warning", &[("MEMO_DIR", dir)])
        .env("EXPECTED_WARNING", expected_warning)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// In a child: calls keys `START..END` through the default store and prints how many it
/// computed; with `PAUSE`, does so twice, waiting for a line on stdin in between.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_counts_computations() {
    if in_child() {
        let range = |name: &str| std::env::var(name).unwrap().parse::<u64>().unwrap();
        let (start, end) = (range("START"), range("END"));
        let site = site!("failure::shared");
        let pass = || {
            let runs = Runs::default();
            for x in start..end {
                let value = memo_runtime::call::<memo_runtime::Plain<u64>>(
                    site,
                    &support::key(site, x),
                    memo_runtime::Share::typed(),
                    || {
                        runs.bump();
                        x * 1000 + 7
                    },
                );
                assert_eq!(value, x * 1000 + 7, "never a wrong value");
            }
            runs.get()
        };
        println!("computed {}", pass());
        if std::env::var_os("PAUSE").is_some() {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).unwrap();
            println!("computed {}", pass());
        }
    }
}

fn counts(output: &std::process::Output) -> Vec<usize> {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.split("computed ").nth(1))
        .map(|n| n.trim().parse().unwrap())
        .collect()
}

fn client(dir: &Path, start: u64, end: u64) -> Command {
    let mut command = child("child_counts_computations", &[("MEMO_DIR", dir)]);
    command
        .env("START", start.to_string())
        .env("END", end.to_string());
    command
}

/// A child that opens the store in `dir` (and so serves it), once it says it is ready; and
/// the rest of its output.
fn holder(
    dir: &Path,
) -> (
    std::process::Child,
    std::io::Lines<BufReader<std::process::ChildStdout>>,
) {
    let mut holder = child("child_holds_the_store", &[("MEMO_DIR", dir)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    assert!(lines.any(|line| line.unwrap().ends_with("ready")));
    (holder, lines)
}

#[test]
fn processes_share_a_store_through_its_holder_and_take_over_when_it_exits() {
    let dir = tempfile::tempdir().unwrap();
    let (mut holder, _holder_out) = holder(dir.path());

    // One process computes, through the holder; the next ones find its results.
    assert_eq!(counts(&client(dir.path(), 0, 20).output().unwrap()), [20]);
    assert_eq!(counts(&client(dir.path(), 0, 20).output().unwrap()), [0]);
    // Three at once, with the holder: four processes on one store.
    let three: Vec<_> = (0..3)
        .map(|_| {
            client(dir.path(), 0, 40)
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let computed: usize = three
        .into_iter()
        .map(|c| counts(&c.wait_with_output().unwrap())[0])
        .sum();
    assert!(
        (20..=60).contains(&computed),
        "keys 20..40 computed {computed} times in all"
    );

    // A client that outlives the holder takes the store over.
    let mut survivor = client(dir.path(), 0, 40)
        .env("PAUSE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut survivor_out = BufReader::new(survivor.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .filter_map(|line| line.split("computed ").nth(1).map(str::to_owned));
    let first = survivor_out.next().unwrap();
    assert_eq!(first.trim(), "0", "served by the holder");
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    writeln!(survivor.stdin.take().unwrap()).unwrap();
    let second = survivor_out.next().unwrap();
    let recomputed: usize = second.trim().parse().unwrap();
    assert!(
        recomputed <= 1,
        "after the holder left, at most the call that found it gone ran: {second}"
    );
    survivor_out.for_each(drop);
    assert!(survivor.wait().unwrap().success());

    // And once it has gone too, the store is anyone's, with every result in it.
    assert_eq!(counts(&client(dir.path(), 0, 40).output().unwrap()), [0]);
    // The holders counted the others' misses with their own.
    let misses = Store::open(dir.path()).unwrap().stats().unwrap().misses as usize;
    assert!(
        (20 + computed..=20 + computed + recomputed).contains(&misses),
        "{misses} misses stored for {} computations",
        20 + computed + recomputed
    );
}

#[test]
fn a_served_process_hears_the_holders_invalidations() {
    let dir = tempfile::tempdir().unwrap();
    let (mut holder, mut holder_out) = holder(dir.path());
    let mut client = client(dir.path(), 0, 10)
        .env("PAUSE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut client_out = BufReader::new(client.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .filter_map(|line| line.split("computed ").nth(1).map(str::to_owned));
    assert_eq!(client_out.next().unwrap().trim(), "10");

    let mut holder_in = holder.stdin.take().unwrap();
    writeln!(holder_in, "clear").unwrap();
    assert!(holder_out.any(|line| line.unwrap().ends_with("cleared")));
    writeln!(client.stdin.take().unwrap()).unwrap();
    assert_eq!(
        client_out.next().unwrap().trim(),
        "10",
        "what the holder cleared is computed again, never served from the client's memory"
    );
    client_out.for_each(drop);
    assert!(client.wait().unwrap().success());
    drop(holder_in);
    holder_out.for_each(drop);
    assert!(holder.wait().unwrap().success());
}

#[test]
fn a_store_path_that_is_a_file_runs_uncached() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, "x").unwrap();
    assert!(matches!(Store::open(&file), Err(Error::Io { .. })));
    run_uncached_child(&file, "could not use");
}

#[test]
fn a_corrupt_store_heals_with_one_warning_or_is_an_error_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        square(&store, site!("failure::square"), 12, &Runs::default());
    }
    // The database file's header (sled's config): damaged, the database cannot be opened.
    let file = memo_runtime::raw::vital_file(dir.path());
    let mut bytes = std::fs::read(&file).unwrap();
    let header = bytes.len().min(64);
    bytes[..header].fill(0xde);
    std::fs::write(&file, &bytes).unwrap();
    let error = Store::builder(dir.path()).heal(false).open().unwrap_err();
    assert!(matches!(error, Error::Corrupt { .. }), "{error}");
    assert!(
        error.to_string().contains("memo verify --repair"),
        "{error}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), bytes, "left as it was");
    // A program heals it: the damaged file is kept aside, a fresh store takes its place
    // in the same run, and one warning says so.
    let output = child("child_heals_the_store", &[("MEMO_DIR", dir.path())])
        .env("EXPECTED_RUNS", "1")
        .env("EXPECTED_WARNINGS", "1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(
        std::fs::read(memo_runtime::raw::vital_file_in_copy(dir.path())).unwrap(),
        bytes,
        "the damaged file is kept for inspection"
    );
    // The next run hits what the healing one stored, and says nothing.
    let output = child("child_heals_the_store", &[("MEMO_DIR", dir.path())])
        .env("EXPECTED_RUNS", "0")
        .env("EXPECTED_WARNINGS", "0")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// In a child: three calls through the default store; as many computations and warnings
/// as the parent expects.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_heals_the_store() {
    if in_child() {
        let expected = |name: &str| std::env::var(name).unwrap().parse::<usize>().unwrap();
        let (runs, logged) = support::warnings(|| {
            let runs = compute_in_default_store();
            let again = compute_in_default_store();
            compute_in_default_store();
            runs.get() + again.get()
        });
        assert_eq!(runs, expected("EXPECTED_RUNS"), "{logged:?}");
        assert_eq!(logged.len(), expected("EXPECTED_WARNINGS"), "{logged:?}");
        if let Some(warning) = logged.first() {
            assert!(warning.contains("was damaged"), "{warning}");
            let copy = memo_runtime::raw::damaged_copy(std::path::Path::new(
                &std::env::var_os("MEMO_DIR").unwrap(),
            ));
            let copy = copy.file_name().unwrap().to_str().unwrap();
            assert!(warning.contains(copy), "{warning}");
        }
    }
}

/// A cached call whose result (over 256 bytes) is stored as a blob.
fn report(store: &Store, runs: &Runs) -> String {
    let site = site!("failure::report");
    memo_runtime::with_store(store, || {
        memo_runtime::call::<memo_runtime::Plain<String>>(
            site,
            &support::key(site, 1),
            memo_runtime::Share::typed(),
            || {
                runs.bump();
                "line\n".repeat(100)
            },
        )
    })
}

#[test]
fn a_blob_that_fails_its_hash_is_recomputed_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let output = {
        let store = Store::open(dir.path()).unwrap();
        report(&store, &Runs::default());
        store.entries().unwrap()[0].output
    };
    {
        let db = memo_runtime::raw::RawStore::open(dir.path()).unwrap();
        db.insert("blobs", output.as_bytes(), b"line\n").unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let runs = Runs::default();
    let (value, logged) = support::warnings(|| report(&store, &runs));
    assert_eq!(value, "line\n".repeat(100), "never the damaged value");
    assert_eq!(runs.get(), 1);
    assert!(
        logged
            .iter()
            .any(|l| l.contains("did not match their hash")),
        "{logged:?}"
    );
    let repaired = store.blob(&output).unwrap().unwrap();
    assert_eq!(postcard::from_bytes::<String>(&repaired).unwrap(), value);
}

#[test]
fn a_damaged_entry_with_its_result_inside_is_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    let site = site!("failure::square");
    let key = {
        let store = Store::open(dir.path()).unwrap();
        square(&store, site, 12, &Runs::default());
        store.entries().unwrap()[0].key
    };
    // 144 is stored inside the entry as `Some(postcard(144))`: 1, length 2, 0x90 0x01.
    let damage: [fn(&[u8]) -> usize; 2] = [
        |_| 0, // the first byte of the content hash
        |raw| {
            raw.windows(4)
                .position(|w| w == [1, 2, 0x90, 0x01])
                .expect("the inline value")
                + 2
        },
    ];
    for (round, find) in damage.iter().enumerate() {
        {
            let db = memo_runtime::raw::RawStore::open(dir.path()).unwrap();
            let mut raw = db.get("entries", key.as_bytes()).unwrap().unwrap();
            let at = find(&raw);
            raw[at] ^= 0x5a;
            db.insert("entries", key.as_bytes(), &raw).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let runs = Runs::default();
        assert_eq!(
            square(&store, site, 12, &runs),
            144,
            "never a damaged value"
        );
        assert_eq!(runs.get(), 1, "damage {round}: recomputed");
    }
}

#[test]
#[ignore = "run by a parent test in a child process"]
fn child_with_caching_disabled() {
    if in_child() {
        let first = compute_in_default_store();
        let second = compute_in_default_store();
        assert_eq!(first.get() + second.get(), 2);
        assert!(memo_runtime::current_store().is_none());
    }
}

#[test]
fn memo_disable_turns_caching_off() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let output = child("child_with_caching_disabled", &[("MEMO_DIR", &store_dir)])
        .env("MEMO_DISABLE", "1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !store_dir.exists(),
        "a disabled cache does not even open its store"
    );
}

/// Damage found by a read, not at open: the file is cut short under the store, whose page
/// cache is too small to hold it. The read that meets the damage replaces the file; every
/// value stays right; what is stored next is in the fresh file.
#[test]
fn damage_found_on_a_read_heals_the_store_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path())
        .cache_capacity(0)
        .in_memory_tier(false)
        .open()
        .unwrap();
    let site = site!("failure::healing");
    let runs = Runs::default();
    for x in 0..2000 {
        square(&store, site, x, &runs);
    }
    store.flush().unwrap();
    let file = memo_runtime::raw::data_file(dir.path());
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(8192)
        .unwrap();
    let (recomputed, logged) = support::warnings(|| {
        let runs = Runs::default();
        for x in 0..2000 {
            assert_eq!(square(&store, site, x, &runs), x * x);
        }
        runs.get()
    });
    // sled keeps the pages it read in memory and does not read the cut file again while
    // it runs: its values stay right, with nothing to heal.
    if memo_runtime::raw::engine_of(dir.path()) == memo_runtime::Engine::Redb {
        assert!(recomputed > 0, "the cut lost results");
        assert!(
            memo_runtime::raw::damaged_copy(dir.path()).exists(),
            "{logged:?}"
        );
        assert_eq!(logged.len(), 1, "{logged:?}");
        assert!(logged[0].contains("was damaged"), "{logged:?}");
    }
    store.flush().unwrap();
    let again = Runs::default();
    for x in 0..2000 {
        assert_eq!(square(&store, site, x, &again), x * x);
    }
    // redb heals: the fresh file holds what was computed after. sled, which cannot tell
    // its file was cut, loses what it writes into the cut part (a recompute, never a
    // wrong value: checked above).
    if memo_runtime::raw::engine_of(dir.path()) == memo_runtime::Engine::Redb {
        assert_eq!(
            again.get(),
            0,
            "the fresh file holds what was computed after the heal"
        );
    }
}

// Every test above again, on the sled engine.
memo_runtime::suite_again_on_sled!();
