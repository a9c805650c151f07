//! Nobody else's bytes in your store: tried as a local attacker would, with real
//! processes — a second user (the tests run as root, which can become `nobody`), a umask
//! that opens everything, store directories prepared by someone else, symlinks where memo
//! writes, a process squatting the store's socket — and a refresh, an invalidation and a
//! clear made in a process the holder serves.

#![cfg(unix)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};

use memo::cached;
use support::child::{child, in_child, piped, wait_for};

/// The uid a child becomes to play another user.
const NOBODY: u32 = 65534;

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Says, where the tests do not run as root, that the other-user cases need it.
fn needs_root(test: &str) -> bool {
    if !is_root() {
        eprintln!("{test}: runs as root only (it plays a second user with setuid)");
    }
    is_root()
}

#[cached]
fn small(x: u64) -> u64 {
    x * 7
}

#[cached]
fn big(n: usize) -> Vec<u8> {
    vec![3; n]
}

/// In a child: holds the store, with a small and a big result (a file of its own), until
/// its stdin closes; then exits normally, persisting what it counted.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_holds_with_results() {
    if in_child() {
        assert_eq!(small(1), 7);
        assert_eq!(big((8 << 20) + 1).len(), (8 << 20) + 1);
        memo::default_store().unwrap().flush().unwrap();
        println!("holding");
        let _ = std::io::stdin().lock().lines().count();
        memo::default_store().unwrap().flush().unwrap();
    }
}

/// A child holding the store in `dir`, once it says so, and the rest of its output.
struct Holding(Child, BufReader<ChildStdout>);

impl Holding {
    fn start(dir: &Path, setup: impl FnOnce(&mut std::process::Command)) -> Holding {
        let mut command = piped("child_holds_with_results", dir);
        command.stdin(Stdio::piped());
        setup(&mut command);
        let mut process = command.spawn().unwrap();
        let out = wait_for(&mut process, "holding");
        Holding(process, out)
    }

    /// Lets it exit, and waits.
    fn finish(mut self) {
        drop(self.0.stdin.take());
        let rest = self.1.lines().map_while(Result::ok).collect::<Vec<_>>();
        assert!(self.0.wait().unwrap().success(), "{rest:?}");
    }
}

/// Every path under `dir`, `dir` first.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_owned()];
    let mut i = 0;
    while i < out.len() {
        if std::fs::symlink_metadata(&out[i]).unwrap().is_dir() {
            let mut children: Vec<PathBuf> = std::fs::read_dir(&out[i])
                .unwrap()
                .map(|entry| entry.unwrap().path())
                .collect();
            children.sort();
            out.extend(children);
        }
        i += 1;
    }
    out
}

#[test]
fn every_file_of_a_store_is_owner_only_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let holder = Holding::start(&store, |command| {
        // SAFETY: umask is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                libc::umask(0);
                Ok(())
            });
        }
    });
    let paths = walk(&store);
    for name in [
        "store.redb",
        "holder.pid",
        "memo.sock",
        "secret",
        ".gitignore",
        "blobs",
    ] {
        assert!(paths.contains(&store.join(name)), "{name} in {paths:?}");
    }
    let mut files = 0;
    for path in &paths {
        let mode = std::fs::symlink_metadata(path).unwrap().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:03o}", path.display());
        files += usize::from(!path.is_dir());
    }
    assert!(files >= 6, "{paths:?}");
    holder.finish();
}

// ---------------------------------------------------------------- directories prepared by others

/// In a child: one call through the default store; prints what it computed.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_calls_once() {
    if in_child() {
        assert_eq!(small(6), 42);
        assert_eq!(small(6), 42);
        println!("cached {}", memo::default_store().is_some());
    }
}

/// Runs [`child_calls_once`] on `dir`: whether it used the store, and its stderr.
fn call_once(dir: &Path) -> (bool, String) {
    let output = child("child_calls_once", dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stdout}\n{stderr}");
    (stdout.contains("cached true"), stderr)
}

#[test]
fn a_store_directory_someone_else_owns_or_may_write_is_refused_with_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let writable = dir.path().join("writable");
    std::fs::create_dir(&writable).unwrap();
    std::fs::set_permissions(&writable, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (cached, stderr) = call_once(&writable);
    assert!(!cached, "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("refused")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("others may write"), "{stderr}");
    assert!(!writable.join("store.redb").exists(), "nothing written");

    if needs_root("a_store_directory_someone_else_owns") {
        let theirs = dir.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
        let (cached, stderr) = call_once(&theirs);
        assert!(!cached, "{stderr}");
        assert!(
            stderr.contains(&format!("owned by user {NOBODY}")),
            "{stderr}"
        );
        assert!(!theirs.join("store.redb").exists(), "nothing written");
    }

    // The same directory made the user's own and private is used.
    std::fs::set_permissions(&writable, std::fs::Permissions::from_mode(0o700)).unwrap();
    let (cached, stderr) = call_once(&writable);
    assert!(cached, "{stderr}");
}

#[test]
fn nothing_is_written_through_a_symlink_planted_in_the_store_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    std::fs::create_dir(&store).unwrap();
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o700)).unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    let chosen = dir.path().join("chosen");
    symlink(&victim, store.join("holder.pid")).unwrap();
    symlink(&chosen, store.join(".gitignore")).unwrap();
    symlink(&victim, store.join("last-problem")).unwrap();
    let (cached, stderr) = call_once(&store);
    assert!(cached, "{stderr}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(!chosen.exists(), "a file appeared where the link pointed");
    // A database that is a link is refused, not followed.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o700)).unwrap();
    symlink(&victim, other.join("store.redb")).unwrap();
    let error = memo::Store::open(&other).unwrap_err();
    assert!(matches!(error, memo::Error::Unsafe { .. }), "{error}");
    assert!(error.to_string().contains("symlink"), "{error}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

// ---------------------------------------------------------------- the socket

/// A directory so deep that its socket is an abstract one (Linux): no file, no
/// permissions — only the peer checks keep others out.
fn deep_store(root: &Path) -> PathBuf {
    let mut store = root.to_owned();
    while store.join("memo.sock").as_os_str().len() <= 120 {
        store = store.join("a-rather-long-directory-name");
    }
    store
}

/// In a child: knocks at the store's socket, whoever it is; prints what happened.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_knocks() {
    if in_child() {
        let dir = PathBuf::from(std::env::var_os("MEMO_DIR").unwrap());
        match memo_runtime::raw::knock(&dir) {
            Ok(()) => println!("knock answered"),
            Err(error) => println!("knock refused: {error}"),
        }
    }
}

/// In a child: takes the store's socket address first, and answers as a holder would.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_squats() {
    if in_child() {
        let dir = PathBuf::from(std::env::var_os("MEMO_DIR").unwrap());
        memo_runtime::raw::squat(&dir).unwrap();
    }
}

#[test]
#[cfg(target_os = "linux")]
fn the_holder_serves_only_its_own_user() {
    if !needs_root("the_holder_serves_only_its_own_user") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = deep_store(dir.path());
    let holder = Holding::start(&store, |_| {});
    let knock = |uid: Option<u32>| {
        let mut command = piped("child_knocks", &store);
        if let Some(uid) = uid {
            command.uid(uid).gid(uid);
        }
        let output = command.output().unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(
        knock(None).contains("knock answered"),
        "its own user is served"
    );
    let stranger = knock(Some(NOBODY));
    assert!(stranger.contains("knock refused"), "{stranger}");
    holder.finish();
    let stats = memo::Store::open(&store).unwrap().stats().unwrap();
    assert_eq!(stats.refused, 1, "counted");
}

#[test]
#[cfg(target_os = "linux")]
fn a_process_never_uses_a_holder_of_another_user() {
    if !needs_root("a_process_never_uses_a_holder_of_another_user") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = deep_store(dir.path());
    std::fs::create_dir_all(&store).unwrap();
    // Another user takes the (abstract) address first; then the real holder opens the
    // store, and cannot serve it.
    let mut squatter = piped("child_squats", &store)
        .uid(NOBODY)
        .gid(NOBODY)
        .spawn()
        .unwrap();
    let _squatting = wait_for(&mut squatter, "squatting");
    let holder = Holding::start(&store, |_| {});
    let error = memo::Store::open(&store).unwrap_err();
    assert!(matches!(error, memo::Error::Served { .. }), "{error}");
    assert!(
        error.to_string().contains(&format!("user {NOBODY}")),
        "{error}"
    );
    squatter.kill().unwrap();
    squatter.wait().unwrap();
    holder.finish();
}

/// In a child: opens the store another process holds, and offers it one result for the
/// key it is bound to and one planted under another key; prints what the holder said.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_offers() {
    if in_child() {
        let dir = PathBuf::from(std::env::var_os("MEMO_DIR").unwrap());
        let store = memo::Store::open(&dir).unwrap();
        let (honest, planted) = (memo::Digest([1; 32]), memo::Digest([2; 32]));
        let offered = memo_runtime::raw::offer(&store, honest, honest, b"honest");
        println!("honest {}", offered.is_ok());
        let planting = memo_runtime::raw::offer(&store, planted, honest, b"planted");
        println!(
            "planted {}",
            planting.map_or_else(|e| e.to_string(), |()| "stored".into())
        );
    }
}

#[test]
fn a_result_planted_under_another_key_through_the_socket_is_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let holder = Holding::start(&store, |_| {});
    let output = piped("child_offers", &store).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(stdout.contains("honest true"), "{stdout}");
    assert!(
        stdout.contains("planted") && stdout.contains("refused"),
        "{stdout}"
    );
    holder.finish();
    let store = memo::Store::open(&store).unwrap();
    assert!(
        store.entry(&memo::Digest([2; 32])).unwrap().is_none(),
        "not stored"
    );
    assert!(store.entry(&memo::Digest([1; 32])).unwrap().is_some());
    assert_eq!(store.stats().unwrap().refused, 1);
    assert!(store.verify(&mut |_, _| {}).unwrap().is_clean());
}

#[test]
fn an_entry_moved_to_another_key_in_the_database_is_found_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let key = {
        let store = memo::Store::open(dir.path()).unwrap();
        memo::with_store(&store, || small(9));
        store.entries().unwrap()[0].key
    };
    // Someone copies the entry to another key behind memo's back.
    let raw = memo_runtime::raw::RawStore::open(dir.path()).unwrap();
    for tree in ["entries", "details"] {
        let record = raw.get(tree, &key.0).unwrap().unwrap();
        raw.insert(tree, &[0xEE; 32], &record).unwrap();
    }
    drop(raw);
    let store = memo::Store::open(dir.path()).unwrap();
    let report = store.verify(&mut |_, _| {}).unwrap();
    assert_eq!(report.forged_entries, 1, "{report:?}");
    assert!(store.entry(&memo::Digest([0xEE; 32])).unwrap().is_none());
    assert!(store.entry(&key).unwrap().is_some(), "the real one stays");
}

// ---------------------------------------------------------------- removals through the holder

/// What [`read_value`] returns: the contents of `$VALUE_FILE`, read when it runs.
#[cached(tags = ["values"])]
fn read_value(x: u64) -> String {
    let file = std::env::var("VALUE_FILE").unwrap();
    format!("{x}:{}", std::fs::read_to_string(file).unwrap())
}

/// In a child: holds the store, calling `read_value(1)` each time a line comes on stdin
/// and printing what it returned.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_holds_and_reads_on_demand() {
    if in_child() {
        println!("value {}", read_value(1));
        for line in std::io::stdin().lock().lines() {
            if line.is_err() {
                break;
            }
            println!("value {}", read_value(1));
        }
    }
}

/// In a child served by the holder: does `ACTION` to `read_value`'s results.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_changes_results() {
    if in_child() {
        let store = memo::default_store().unwrap();
        match std::env::var("ACTION").unwrap().as_str() {
            "refresh" => println!("value {}", memo::refresh(|| read_value(1))),
            "invalidate" => println!("removed {}", store.invalidate_tag("values").unwrap()),
            "clear" => {
                store.clear().unwrap();
                println!("cleared");
            }
            other => panic!("no action {other}"),
        }
    }
}

struct Holder {
    process: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Holder {
    /// The value the holder's next call returns.
    fn read(&mut self) -> String {
        writeln!(self.input, "again").unwrap();
        self.next()
    }

    fn next(&mut self) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                self.output.read_line(&mut line).unwrap() > 0,
                "the holder ended"
            );
            if let Some((_, value)) = line.split_once("value ") {
                return value.trim().to_owned();
            }
        }
    }
}

#[test]
fn refresh_invalidate_and_clear_in_a_served_process_reach_the_holders_memory() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let value = dir.path().join("value");
    std::fs::write(&value, "a").unwrap();
    let mut process = piped("child_holds_and_reads_on_demand", &store)
        .env("VALUE_FILE", &value)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let input = process.stdin.take().unwrap();
    let output = BufReader::new(process.stdout.take().unwrap());
    let mut holder = Holder {
        process,
        input,
        output,
    };
    assert_eq!(holder.next(), "1:a");
    std::fs::write(&value, "b").unwrap();
    assert_eq!(holder.read(), "1:a", "a hit, from the holder's memory");
    let served = |action: &str| {
        let output = piped("child_changes_results", &store)
            .env("VALUE_FILE", &value)
            .env("ACTION", action)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{stdout}\n{stderr}");
        stdout
    };
    assert!(served("refresh").contains("value 1:b"));
    assert_eq!(holder.read(), "1:b", "the refresh reached the holder");
    std::fs::write(&value, "c").unwrap();
    assert!(served("invalidate").contains("removed 1"));
    assert_eq!(holder.read(), "1:c", "the invalidation reached the holder");
    std::fs::write(&value, "d").unwrap();
    assert!(served("clear").contains("cleared"));
    assert_eq!(holder.read(), "1:d", "the clear reached the holder");
    assert_eq!(holder.read(), "1:d", "and it caches again");
    drop(holder.input);
    holder.process.wait().unwrap();
}
