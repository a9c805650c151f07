//! The `memo` binary against real stores, filled by a program through the macros.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use memo::{Memo, Store, cached};
use serde_json::Value;
use support::{fails, json, memo, ok};

#[cached(tags = ["ml"])]
fn load(rows: u32) -> Memo<Vec<u32>> {
    Memo::new((0..rows).collect())
}

#[cached(ttl = "1h")]
fn total(data: &Memo<Vec<u32>>) -> u64 {
    data.iter().map(|x| u64::from(*x)).sum()
}

#[cached]
fn greet(name: &str) -> String {
    format!("hello, {name}")
}

/// Large enough (over 256 bytes) to be stored as a shared blob, not inside its entry.
#[derive(serde::Serialize, serde::Deserialize)]
struct Report {
    lines: u32,
    text: String,
}

#[cached]
fn report(lines: u32) -> Report {
    Report {
        lines,
        text: "x".repeat(300),
    }
}

#[cached(name = "model")]
fn model_v1(x: u32) -> u32 {
    x + 1
}

#[cached(name = "model")]
fn model_v2(x: u32) -> u32 {
    x + 2
}

/// A store with: load(3) → total, two greetings, a report, and the `model` function at two
/// code versions (the second is current).
fn filled() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        memo::with_store(&store, || {
            let data = load(3);
            assert_eq!(total(&data), 3);
            greet("ada");
            greet("bob");
            report(7);
            model_v1(1);
        });
    }
    {
        // A later run of the program, with new code for `model`.
        let store = Store::open(dir.path()).unwrap();
        memo::with_store(&store, || model_v2(1));
    }
    dir
}

fn key_of(dir: &Path, function: &str) -> String {
    let entries = json(dir, &["ls", "--fn", function]);
    entries[0]["key"].as_str().unwrap().to_owned()
}

#[test]
fn stats_counts_entries_and_calls() {
    let dir = filled();
    let stats = json(dir.path(), &["stats"]);
    assert_eq!(stats["entries"], 7);
    assert_eq!(stats["misses"], 7);
    assert_eq!(stats["hits"], 0);
    assert!(stats["bytes"].as_u64().unwrap() > 0);
    let text = ok(dir.path(), &["stats"]);
    assert!(
        text.contains("entries    7") && text.contains("hit rate   0.0%"),
        "{text}"
    );
    let out = memo(dir.path(), &["stats"]);
    let said = String::from_utf8(out.stderr).unwrap();
    assert!(
        said.contains("memo: store "),
        "it says which store it opened: {said}"
    );
}

#[test]
fn ls_filters_and_limits() {
    let dir = filled();
    let all = json(dir.path(), &["ls"]);
    assert_eq!(all.as_array().unwrap().len(), 7);
    for field in [
        "key",
        "function",
        "fingerprint",
        "output",
        "created",
        "expires",
        "size",
        "tags",
    ] {
        assert!(all[0].get(field).is_some(), "ls --json has `{field}`");
    }
    let tagged = json(dir.path(), &["ls", "--tag", "ml"]);
    assert_eq!(tagged.as_array().unwrap().len(), 1);
    assert_eq!(tagged[0]["function"], "cli::load");
    let greets = json(dir.path(), &["ls", "--fn", "greet"]);
    assert_eq!(greets.as_array().unwrap().len(), 2);
    assert_eq!(
        json(dir.path(), &["ls", "--limit", "3"])
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let table = ok(dir.path(), &["ls"]);
    assert!(table.starts_with("KEY"), "{table}");
    assert!(
        table.contains("cli::total") && table.contains("in 59m"),
        "{table}"
    );
}

#[test]
fn show_finds_an_entry_by_prefix_with_its_lineage() {
    let dir = filled();
    let key = key_of(dir.path(), "total");
    let shown = json(dir.path(), &["show", &key[..10]]);
    assert_eq!(shown["key"], key.as_str());
    assert_eq!(shown["function"], "cli::total");
    assert_eq!(
        shown["inputs"].as_array().unwrap().len(),
        1,
        "fed by load's Memo"
    );
    assert_eq!(shown["components"][0]["kind"], "fn");
    let load = json(dir.path(), &["show", &key_of(dir.path(), "load")]);
    assert_eq!(load["consumers"][0], key.as_str(), "load fed total");
    let text = ok(dir.path(), &["show", &key[..8]]);
    assert!(
        text.contains("from ") && text.contains("cli::load"),
        "{text}"
    );
}

#[test]
fn unknown_and_ambiguous_keys_are_errors() {
    let dir = filled();
    let missing = fails(dir.path(), &["show", "ffffffffffff"], 1);
    assert!(
        missing.contains("no entry has a key starting with"),
        "{missing}"
    );
    // With seven entries, some one-digit prefix is shared by two of them, or every digit
    // is unique; find a shared one.
    let keys: Vec<String> = json(dir.path(), &["ls"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap().to_owned())
        .collect();
    let shared = (0..keys.len())
        .flat_map(|i| (0..keys.len()).map(move |j| (i, j)))
        .filter(|(i, j)| i < j)
        .map(|(i, j)| {
            let common = keys[i]
                .chars()
                .zip(keys[j].chars())
                .take_while(|(a, b)| a == b)
                .count();
            keys[i][..common].to_owned()
        })
        .find(|p| !p.is_empty())
        .unwrap_or_default();
    if !shared.is_empty() {
        let ambiguous = fails(dir.path(), &["show", &shared], 1);
        assert!(ambiguous.contains("ambiguous"), "{ambiguous}");
    }
    let bad = fails(dir.path(), &["get", "xyz"], 1);
    assert!(bad.contains("not a key"), "{bad}");
}

#[cached]
fn settings(name: &str) -> serde_json::Value {
    serde_json::json!({ "name": name, "sizes": [1, 2.5], "on": true })
}

#[test]
fn get_renders_a_result_stored_as_cbor_whatever_its_type() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        memo::with_store(&store, || settings("memo"));
    }
    let value = json(dir.path(), &["get", &key_of(dir.path(), "settings")]);
    assert_eq!(
        value["value"],
        serde_json::json!({ "name": "memo", "sizes": [1, 2.5], "on": true }),
        "{value}"
    );
}

#[test]
fn get_renders_known_types_and_writes_bytes() {
    let dir = filled();
    let greet = key_of(dir.path(), "greet");
    let value = json(dir.path(), &["get", &greet]);
    assert!(
        value["value"].as_str().unwrap().starts_with("hello, "),
        "{value}"
    );
    assert_eq!(value["type"], "String");
    let total = json(dir.path(), &["get", &key_of(dir.path(), "total")]);
    assert_eq!(total["value"], 3);
    let loaded = json(dir.path(), &["get", &key_of(dir.path(), "load")]);
    assert_eq!(
        loaded["value"],
        serde_json::json!([0, 1, 2]),
        "a Memo stores its value"
    );
    let opaque = json(dir.path(), &["get", &key_of(dir.path(), "report")]);
    assert_eq!(opaque["value"], Value::Null, "a user type stays bytes");
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("report.bin");
    ok(
        dir.path(),
        &[
            "get",
            &key_of(dir.path(), "report"),
            "-o",
            file.to_str().unwrap(),
        ],
    );
    let bytes = std::fs::read(&file).unwrap();
    // postcard of Report { lines: 7, text: 300 × "x" }: 7, the length as a varint, the text.
    assert_eq!(bytes.len(), 1 + 2 + 300);
    assert_eq!(&bytes[..3], &[7, 0xac, 0x02]);
    let raw = memo(dir.path(), &["get", &key_of(dir.path(), "report"), "--raw"]);
    assert_eq!(raw.stdout, bytes);
}

#[test]
fn fns_counts_stale_entries_and_explain_diffs_versions() {
    let dir = filled();
    let fns = json(dir.path(), &["fns"]);
    let model = fns
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "model")
        .unwrap();
    assert_eq!(model["entries"], 2);
    assert_eq!(model["stale"], 1);
    assert_eq!(model["versions"], 2);

    let explained = json(dir.path(), &["explain", "model"]);
    assert_eq!(explained["fingerprint"], model["fingerprint"]);
    assert_eq!(explained["changes"][0]["change"], "changed");
    assert_eq!(explained["changes"][0]["kind"], "fn");
    let old = explained["compared_with"].as_str().unwrap().to_owned();
    let new = explained["fingerprint"].as_str().unwrap().to_owned();
    let pair = json(dir.path(), &["explain", "model", &old[..8], &new[..8]]);
    assert_eq!(pair["changes"], explained["changes"]);
    let text = ok(dir.path(), &["explain", "model"]);
    assert!(
        text.contains("changed since") && text.contains("2 versions"),
        "{text}"
    );
    let missing = fails(dir.path(), &["explain", "nothing"], 1);
    assert!(missing.contains("memo fns"), "{missing}");
}

#[test]
fn invalidate_rm_gc_and_clear_remove_entries() {
    let dir = filled();
    assert!(ok(dir.path(), &["invalidate", "--tag", "ml"]).contains("removed 1 entry"));
    assert!(ok(dir.path(), &["invalidate", "--fn", "greet"]).contains("removed 2 entries"));
    let key = key_of(dir.path(), "report");
    assert!(ok(dir.path(), &["rm", &key[..12]]).contains("removed"));
    let gc = json(dir.path(), &["gc", "--stale"]);
    assert_eq!(gc["entries_removed"], 1, "the old version of model");
    let left = json(dir.path(), &["ls"]);
    let functions: Vec<&str> = left
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["function"].as_str().unwrap())
        .collect();
    assert_eq!(functions.len(), 2, "{functions:?}");
    let budget = ok(dir.path(), &["gc", "--max-size", "0B"]);
    assert!(budget.contains("removed 2 entries"), "{budget}");
    fails(dir.path(), &["gc", "--older-than", "soon"], 2);
    fails(dir.path(), &["gc", "--max-size", "lots"], 2);
    ok(dir.path(), &["clear"]);
    assert_eq!(json(dir.path(), &["stats"])["entries"], 0);
}

#[test]
fn verify_reports_and_removes_damage() {
    let dir = filled();
    assert_eq!(json(dir.path(), &["verify"])["clean"], true);
    let output = json(dir.path(), &["ls", "--fn", "report"])[0]["output"]
        .as_str()
        .unwrap()
        .to_owned();
    {
        let db = memo_runtime::raw::RawStore::open(dir.path()).unwrap();
        let hash: memo::Digest = output.parse().unwrap();
        db.insert("blobs", hash.as_bytes(), &[1u8, 2]).unwrap();
    }
    let report = json(dir.path(), &["verify"]);
    assert_eq!(report["clean"], false);
    assert_eq!(report["bad_blobs"][0], output.as_str());
    assert_eq!(report["bad_entries"], 1);
    assert_eq!(
        json(dir.path(), &["verify"])["clean"],
        true,
        "removed the first time"
    );
}

#[test]
fn doctor_reports_and_verify_repair_heals_a_damaged_store() {
    let dir = filled();
    let doctor = json(dir.path(), &["doctor"]);
    assert_eq!(doctor["healthy"], true, "{doctor}");
    assert_eq!(doctor["engine"], "redb");
    assert_eq!(doctor["format"], memo::STORE_FORMAT_VERSION);
    assert!(doctor["entries"].as_u64().unwrap() > 0);
    assert!(doctor["file_bytes"].as_u64().unwrap() > 0);
    assert!(doctor["last_problem"].is_null());
    assert!(ok(dir.path(), &["doctor"]).contains("healthy"));

    // The header destroyed: looking changes nothing, and says what to do.
    let file = dir.path().join("store.redb");
    let mut bytes = std::fs::read(&file).unwrap();
    for byte in &mut bytes[..512] {
        *byte ^= 0xA5;
    }
    std::fs::write(&file, &bytes).unwrap();
    let doctor = json(dir.path(), &["doctor"]);
    assert_eq!(doctor["healthy"], false, "{doctor}");
    assert!(
        doctor["problem_opening"]
            .as_str()
            .unwrap()
            .contains("corrupt"),
        "{doctor}"
    );
    assert!(ok(dir.path(), &["doctor"]).contains("memo verify --repair"));
    let error = fails(dir.path(), &["ls"], 1);
    assert!(error.contains("memo verify --repair"), "{error}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        bytes,
        "only looking changes nothing"
    );

    let repaired = ok(dir.path(), &["verify", "--repair"]);
    assert!(repaired.starts_with("repaired:"), "{repaired}");
    assert_eq!(
        std::fs::read(dir.path().join("store.redb.damaged")).unwrap(),
        bytes
    );
    let doctor = json(dir.path(), &["doctor"]);
    assert_eq!(doctor["healthy"], true, "{doctor}");
    assert_eq!(doctor["entries"], 0);
    assert_eq!(doctor["damaged_copy"]["bytes"], bytes.len());
    let problem = doctor["last_problem"]["message"].as_str().unwrap();
    assert!(problem.contains("was damaged"), "{problem}");
    // A sound store: `--repair` verifies it, as `verify` does.
    assert_eq!(json(dir.path(), &["verify", "--repair"])["clean"], true);
}

#[test]
fn export_and_import_keep_entries_and_dedup() {
    let dir = filled();
    let archive = tempfile::tempdir().unwrap();
    let file = archive.path().join("store.memo");
    let exported = json(dir.path(), &["export", file.to_str().unwrap()]);
    assert_eq!(exported["entries"], 7);

    let fresh = tempfile::tempdir().unwrap();
    let target = fresh.path().join("store");
    // Another store's archive: its entries' MACs are not under this store's secret, so
    // they come in only when the archive is trusted — and the user is told how to.
    let refused = memo(&target, &["import", file.to_str().unwrap(), "--json"]);
    assert!(refused.status.success());
    let report: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(
        (
            report["entries"].as_u64(),
            report["refused_entries"].as_u64()
        ),
        (Some(0), Some(7))
    );
    let told = String::from_utf8_lossy(&refused.stderr);
    assert!(
        told.contains("refused 7 entries") && told.contains("--trust"),
        "{told}"
    );
    assert_eq!(json(&target, &["ls"]), serde_json::json!([]));
    let imported = json(&target, &["import", "--trust", file.to_str().unwrap()]);
    assert_eq!(imported["entries"], 7);
    assert_eq!(imported["blobs"], exported["blobs"]);
    assert_eq!(
        json(&target, &["verify"])["clean"],
        true,
        "signed as this store's"
    );
    let again = json(&target, &["import", file.to_str().unwrap()]);
    assert_eq!(again["entries"], 0);
    assert_eq!(again["skipped_entries"], 7);
    assert_eq!(
        again["skipped_blobs"], exported["blobs"],
        "dedup: no blob twice"
    );
    assert_eq!(json(&target, &["ls"]), json(dir.path(), &["ls"]));

    // The imported store serves the program.
    let store = Store::open(&target).unwrap();
    let greeted = memo::with_store(&store, || memo::bypass(|| greet("ada")));
    assert_eq!(greeted, "hello, ada");
    drop(store);

    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    let corrupt = archive.path().join("corrupt.memo");
    std::fs::write(&corrupt, &bytes).unwrap();
    let error = fails(&target, &["import", corrupt.to_str().unwrap()], 1);
    assert!(error.contains("archive is damaged"), "{error}");
    std::fs::write(&corrupt, b"not an archive").unwrap();
    let error = fails(&target, &["import", corrupt.to_str().unwrap()], 1);
    assert!(
        error.contains("not a memo archive") || error.contains("damaged"),
        "{error}"
    );
}

/// `memo export` then `memo import --engine` moves a store to the other engine: the
/// same entries, every result a hit for the program, and the other engine refused on it.
#[test]
fn export_and_import_move_a_store_between_engines() {
    let dir = filled();
    assert_eq!(json(dir.path(), &["doctor"])["engine"], "redb");
    let archive = tempfile::tempdir().unwrap();
    let file = archive.path().join("store.memo");
    let file = file.to_str().unwrap();
    assert_eq!(json(dir.path(), &["export", file])["entries"], 7);

    // The new store takes the old one's secret: its entries check without `--trust`.
    let fresh = tempfile::tempdir().unwrap();
    let sled = fresh.path().join("sled");
    std::fs::create_dir(&sled).unwrap();
    std::fs::copy(dir.path().join("secret"), sled.join("secret")).unwrap();
    assert_eq!(
        json(&sled, &["import", file, "--engine", "sled"])["entries"],
        7
    );
    assert!(sled.join("store.sled").is_dir() && !sled.join("store.redb").exists());
    assert_eq!(json(&sled, &["doctor"])["engine"], "sled");
    assert_eq!(json(&sled, &["ls"]), json(dir.path(), &["ls"]));
    assert_eq!(json(&sled, &["verify"])["clean"], true);
    // Importing again, asking for the other engine, is refused and changes nothing.
    let error = fails(&sled, &["import", file, "--engine", "redb"], 1);
    assert!(error.contains("written by the sled engine"), "{error}");
    assert!(!sled.join("store.redb").exists());

    // The program finds every result there: hits, nothing computed.
    let store = Store::open(&sled).unwrap();
    assert_eq!(store.engine(), memo::Engine::Sled);
    let before = store.stats().unwrap();
    memo::with_store(&store, || {
        assert_eq!(greet("ada"), "hello, ada");
        assert_eq!(report(7).lines, 7);
        assert_eq!(total(&load(3)), 3);
    });
    let after = store.stats().unwrap();
    assert_eq!(after.misses, before.misses, "{after:?}");
    drop(store);

    // And back to redb.
    let back = fresh.path().join("redb");
    let second = archive.path().join("again.memo");
    let second = second.to_str().unwrap();
    assert_eq!(json(&sled, &["export", second])["entries"], 7);
    assert_eq!(
        json(&back, &["import", "--trust", second, "--engine", "redb"])["entries"],
        7
    );
    assert_eq!(json(&back, &["doctor"])["engine"], "redb");
    assert_eq!(json(&back, &["ls"]), json(dir.path(), &["ls"]));
    let error = fails(&back, &["import", second, "--engine", "lmdb"], 2);
    assert!(error.contains("not a storage engine"), "{error}");
}

/// `memo remote status` with the tier `MEMO_REMOTE` names, as a developer's shell sets it.
fn remote_status(dir: &Path, url: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_memo"));
    command
        .arg("--dir")
        .arg(dir)
        .args(["remote", "status", "--json"])
        .env_remove("MEMO_DIR")
        .env_remove("MEMO_REMOTE")
        .env("MEMO_REMOTE_KEY", "team secret")
        .env("MEMO_REMOTE_NAMESPACE", "memo-cli-test");
    if let Some(url) = url {
        command.env("MEMO_REMOTE", url);
    }
    command.output().unwrap()
}

#[test]
fn remote_status_says_where_the_tier_is_and_whether_it_answers() {
    let dir = filled();
    let up = remote_status(dir.path(), Some("redis://127.0.0.1:6379/0"));
    let stderr = String::from_utf8_lossy(&up.stderr);
    assert!(up.status.success(), "{stderr}");
    let status: Value = serde_json::from_slice(&up.stdout).unwrap();
    assert_eq!(status["reachable"], true, "{status}");
    assert_eq!(status["mode"], "ro");
    assert_eq!(status["namespace"], "memo-cli-test");
    assert!(status["latency_us"].as_u64().is_some());

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let down = remote_status(
        dir.path(),
        Some(&format!("redis://:hunter2@127.0.0.1:{port}/0")),
    );
    assert_eq!(down.status.code(), Some(1));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&down.stdout),
        String::from_utf8_lossy(&down.stderr),
    );
    assert!(stderr.contains("does not answer"), "{stderr}");
    assert!(
        !stdout.contains("hunter2") && !stderr.contains("hunter2"),
        "{stdout}{stderr}"
    );
    assert!(stdout.contains(":***@"), "the password is hidden: {stdout}");

    let none = remote_status(dir.path(), None);
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no shared tier is configured"));
}

/// `memo remote …` against the Redis server on 127.0.0.1:6379, in a namespace of its own.
fn remote(dir: &Path, namespace: &str, mode: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memo"))
        .arg("--dir")
        .arg(dir)
        .arg("remote")
        .args(args)
        .env_remove("MEMO_DIR")
        .env("MEMO_REMOTE", "redis://127.0.0.1:6379/0")
        .env("MEMO_REMOTE_KEY", "team secret")
        .env("MEMO_REMOTE_NAMESPACE", namespace)
        .env("MEMO_REMOTE_MODE", mode)
        .output()
        .unwrap()
}

#[test]
fn remote_push_and_pull_move_a_store_through_the_tier() {
    let dir = filled();
    let namespace = format!("memo-cli-push-{}", std::process::id());
    let json_of = |out: Output| -> Value {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let refused = remote(dir.path(), &namespace, "ro", &["push"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("MEMO_REMOTE_MODE=rw"));
    let pushed = json_of(remote(dir.path(), &namespace, "rw", &["push", "--json"]));
    assert_eq!(pushed["moved"], 7, "{pushed}");
    let again = json_of(remote(dir.path(), &namespace, "rw", &["push", "--json"]));
    assert_eq!(
        (again["moved"].clone(), again["already"].clone()),
        (0.into(), 7.into())
    );

    // A fresh store elsewhere: `pull` fills it (an import creates it first).
    let fresh = tempfile::tempdir().unwrap();
    let archive = fresh.path().join("empty.memo");
    Store::temporary()
        .unwrap()
        .export(std::fs::File::create(&archive).unwrap(), &mut |_, _| {})
        .unwrap();
    let target = fresh.path().join("store");
    ok(&target, &["import", archive.to_str().unwrap()]);
    let pulled = json_of(remote(&target, &namespace, "ro", &["pull", "--json"]));
    assert_eq!(pulled["moved"], 7, "{pulled}");
    assert_eq!(json(&target, &["ls"]), json(dir.path(), &["ls"]));
}

#[test]
fn a_missing_store_and_bad_usage_are_errors() {
    let nowhere = tempfile::tempdir().unwrap();
    let missing = nowhere.path().join("absent");
    let error = fails(&missing, &["stats"], 1);
    assert!(error.contains("does not exist"), "{error}");
    let empty = tempfile::tempdir().unwrap();
    let error = fails(empty.path(), &["ls"], 1);
    assert!(error.contains("not a memo store"), "{error}");
    fails(empty.path(), &["frobnicate"], 2);
    fails(empty.path(), &["invalidate"], 2);
}

#[test]
fn the_store_is_found_from_memo_dir_or_a_parent_directory() {
    let dir = filled();
    let from_env = Command::new(env!("CARGO_BIN_EXE_memo"))
        .arg("stats")
        .env("MEMO_DIR", dir.path())
        .output()
        .unwrap();
    assert!(from_env.status.success());
    let project = tempfile::tempdir().unwrap();
    let nested = project.path().join("a").join("b");
    std::fs::create_dir_all(&nested).unwrap();
    {
        let store = Store::open(project.path().join(".memo")).unwrap();
        memo::with_store(&store, || greet("walk"));
    }
    let walked = Command::new(env!("CARGO_BIN_EXE_memo"))
        .args(["ls", "--json"])
        .current_dir(&nested)
        .env_remove("MEMO_DIR")
        .output()
        .unwrap();
    assert!(
        walked.status.success(),
        "{}",
        String::from_utf8_lossy(&walked.stderr)
    );
    let entries: Value = serde_json::from_slice(&walked.stdout).unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 1);
}

#[test]
fn a_store_held_by_a_running_program_says_which() {
    let dir = filled();
    let held = Store::open(dir.path()).unwrap();
    let error = fails(dir.path(), &["stats"], 1);
    assert!(error.contains("held by another process"), "{error}");
    assert!(
        error.contains(&format!("pid {}", std::process::id())),
        "{error}"
    );
    // Removals go through the program that holds it, which forgets them in memory too.
    let entries = held.entries().unwrap();
    let greet = entries
        .iter()
        .find(|e| e.function.ends_with("::greet"))
        .unwrap();
    let report = entries
        .iter()
        .find(|e| e.function.ends_with("::report"))
        .unwrap();
    let out = ok(dir.path(), &["invalidate", "--fn", &greet.function]);
    assert!(out.contains("removed 2 entries"), "{out}");
    assert!(ok(dir.path(), &["invalidate", "--tag", "ml"]).contains("removed 1 entry"));
    let out = ok(dir.path(), &["rm", &report.key.to_string()]);
    assert!(out.contains("removed"), "{out}");
    assert!(held.entry(&report.key).unwrap().is_none());
    assert_eq!(held.entries().unwrap().len(), entries.len() - 4);
    assert!(ok(dir.path(), &["clear"]).contains("cleared"));
    assert!(held.entries().unwrap().is_empty());
    drop(held);
    ok(dir.path(), &["stats"]);
}

#[test]
fn stats_shows_what_the_shared_tier_did_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let namespace = format!("memo-cli-stats-{}", std::process::id());
    let remote = || {
        memo::RemoteConfig::new("redis://127.0.0.1:6379/0")
            .namespace(&namespace)
            .read_write(true)
            .secret(b"team secret".to_vec())
            .default_expiry(std::time::Duration::from_secs(300))
            .min_compute(std::time::Duration::ZERO)
    };
    for run in 0..2 {
        let store = Store::builder(dir.path()).remote(remote()).open().unwrap();
        memo::with_store(&store, || {
            greet(&format!("ada {run}"));
            greet(&format!("bob {run}"));
        });
        store.flush_shared(std::time::Duration::from_secs(5));
    }
    let stats = json(dir.path(), &["stats"]);
    let counts = &stats["remote_counts"];
    assert_eq!(
        (&counts["misses"], &counts["writes"], &counts["hits"]),
        (&Value::from(4), &Value::from(4), &Value::from(0)),
        "two runs' counts, kept in the store: {stats}"
    );
    let text = ok(dir.path(), &["stats"]);
    assert!(
        text.contains("remote use") && text.contains("4 writes"),
        "{text}"
    );
    // Another machine's store, filled from the tier: its hits are counted in its store.
    let other = tempfile::tempdir().unwrap();
    {
        let store = Store::builder(other.path())
            .remote(remote().read_write(false))
            .open()
            .unwrap();
        memo::with_store(&store, || greet("ada 0"));
    }
    let stats = json(other.path(), &["stats"]);
    assert_eq!(stats["remote_counts"]["hits"], 1, "{stats}");
}

#[cached]
fn doubled(data: &Memo<Vec<u32>>) -> Memo<Vec<u32>> {
    Memo::new(data.iter().map(|x| x * 2).collect())
}

/// A three-step pipeline: load → doubled → total.
fn pipeline() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    memo::with_store(&store, || {
        let data = load(4);
        let twice = doubled(&data);
        assert_eq!(total(&twice), 12);
        greet("outside any chain");
    });
    dir
}

#[test]
fn graph_draws_a_pipelines_lineage_as_dot_svg_and_json() {
    let dir = pipeline();
    let graph = json(dir.path(), &["graph"]);
    let nodes = graph["nodes"].as_array().unwrap();
    let edges = graph["edges"].as_array().unwrap();
    assert_eq!((nodes.len(), edges.len()), (3, 2), "{graph}");
    let function_of = |id: &Value| {
        nodes.iter().find(|n| n["id"] == *id).unwrap()["label"][0]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let mut flows: Vec<(String, String)> = edges
        .iter()
        .map(|e| (function_of(&e["from"]), function_of(&e["to"])))
        .collect();
    flows.sort();
    assert_eq!(
        flows,
        [
            ("cli::doubled".to_owned(), "cli::total".to_owned()),
            ("cli::load".to_owned(), "cli::doubled".to_owned()),
        ]
    );

    let dot = ok(dir.path(), &["graph"]);
    assert!(dot.starts_with("digraph memo {"), "{dot}");
    assert_eq!(dot.matches(" -> ").count(), 2, "{dot}");

    let svg = ok(dir.path(), &["graph", "--format", "svg"]);
    let doc = roxmltree::Document::parse(&svg).expect("the SVG parses");
    let class_count = |class: &str| {
        doc.descendants()
            .filter(|n| n.attribute("class") == Some(class))
            .count()
    };
    assert_eq!((class_count("node"), class_count("edge")), (3, 2));

    // Around one entry: the chain it is part of, nothing else.
    let key = key_of(dir.path(), "cli::doubled");
    let around = json(dir.path(), &["graph", &key[..8]]);
    assert_eq!(around["nodes"].as_array().unwrap().len(), 3);
    let alone = json(
        dir.path(),
        &["graph", &key_of(dir.path(), "cli::greet")[..8]],
    );
    assert_eq!(alone["nodes"].as_array().unwrap().len(), 1, "{alone}");
    assert_eq!(alone["edges"].as_array().unwrap().len(), 0);
}

#[cached(name = "stage")]
fn stage_v1(data: &Memo<Vec<u32>>) -> u64 {
    data.len() as u64
}

#[cached(name = "stage")]
fn stage_v2(data: &Memo<Vec<u32>>) -> u64 {
    data.len() as u64 + 1
}

#[test]
fn graph_marks_entries_of_older_code_and_inputs_not_in_the_store() {
    let dir = pipeline();
    for stage in [stage_v1 as fn(&Memo<Vec<u32>>) -> u64, stage_v2] {
        // A run of the program with each version of `stage`.
        let store = Store::open(dir.path()).unwrap();
        memo::with_store(&store, || stage(&load(4)));
    }
    let graph = json(dir.path(), &["graph", "--fn", "stage"]);
    let stale: Vec<bool> = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["label"][0] == "stage")
        .map(|n| n["stale"].as_bool().unwrap())
        .collect();
    assert_eq!(stale.len(), 2, "{graph}");
    assert_eq!(
        stale.iter().filter(|s| **s).count(),
        1,
        "the older one: {graph}"
    );
    assert!(ok(dir.path(), &["graph", "--fn", "stage"]).contains("style=dashed"));

    // The producer of `doubled`'s input is removed: its input shows as not here.
    let load_key = key_of(dir.path(), "cli::load");
    ok(dir.path(), &["rm", &load_key[..8]]);
    let graph = json(dir.path(), &["graph", "--fn", "doubled"]);
    let missing: Vec<&Value> = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["missing"] == true)
        .collect();
    assert_eq!(missing.len(), 1, "{graph}");
    let dot = ok(dir.path(), &["graph", "--fn", "doubled"]);
    assert!(dot.contains("style=dotted"), "{dot}");
}

#[test]
fn diff_says_what_two_entries_differ_in() {
    let dir = filled();
    let keys: Vec<String> = json(dir.path(), &["ls", "--fn", "model"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap()[..10].to_owned())
        .collect();
    assert_eq!(keys.len(), 2);
    let diff = json(dir.path(), &["diff", &keys[0], &keys[1]]);
    assert_eq!(diff["function"]["same"], true, "{diff}");
    assert_eq!(
        diff["arguments"], "same: x = 1",
        "one call, two versions: {diff}"
    );
    assert_eq!(diff["code"]["same"], false);
    let changes = diff["code"]["changes"].as_array().unwrap();
    assert!(
        changes
            .iter()
            .any(|c| c["change"] == "changed" && c["path"] == "model"),
        "the function's own code changed: {diff}"
    );
    assert_eq!(diff["output"]["same"], false);
    let output = diff["output"]["diff"].as_str().unwrap();
    assert!(
        output.lines().any(|l| l == "-2" || l == "-3")
            && output.lines().any(|l| l == "+2" || l == "+3"),
        "{output}"
    );

    // One function, one version, two calls: the arguments differ, and so do the outputs.
    let ada = key_of_where(dir.path(), "greet", "hello, ada");
    let bob = key_of_where(dir.path(), "greet", "hello, bob");
    let text = ok(dir.path(), &["diff", &ada[..8], &bob[..8]]);
    assert!(text.contains("function     same"), "{text}");
    assert!(text.contains("code         same"), "{text}");
    assert!(
        text.contains("arguments    differ: name = \"ada\" / name = \"bob\""),
        "{text}"
    );
    assert!(
        text.contains("-\"hello, ada\"") && text.contains("+\"hello, bob\""),
        "{text}"
    );
    let same = ok(dir.path(), &["diff", &ada[..8], &ada[..8]]);
    assert!(same.contains("output       same"), "{same}");
}

/// The key of `function`'s entry whose value renders as `value`.
fn key_of_where(dir: &Path, function: &str, value: &str) -> String {
    json(dir, &["ls", "--fn", function])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap().to_owned())
        .find(|key| json(dir, &["get", key])["value"] == value)
        .unwrap()
}

/// A reading with a `Debug` of its own and a key written by hand.
struct Celsius(f64);

impl std::fmt::Debug for Celsius {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}°C", self.0)
    }
}

impl memo::CacheKey for Celsius {
    fn cache_key(&self, h: &mut memo::KeyHasher) {
        h.update(&self.0.to_bits());
    }
}

/// A handle with neither `Debug` nor a derived key.
struct Handle(u32);

impl memo::CacheKey for Handle {
    fn cache_key(&self, h: &mut memo::KeyHasher) {
        h.update(&self.0);
    }
}

#[derive(memo::CacheKey, Debug)]
struct Request {
    url: String,
    #[cache_key(skip)]
    #[allow(dead_code)]
    token: String,
}

#[cached]
fn forecast(city: &str, days: u8, at: Celsius) -> u64 {
    city.len() as u64 + u64::from(days) + at.0 as u64
}

#[cached]
fn open_handle(handle: Handle) -> u32 {
    handle.0
}

#[cached]
fn fetch(request: &Request) -> usize {
    request.url.len()
}

#[cached(args = "hidden")]
fn login(user: &str, password: &str) -> usize {
    user.len() + password.len()
}

#[cached(skip(verbose))]
fn tally(n: u32, verbose: bool) -> u32 {
    if verbose { n } else { n + 1 }
}

#[test]
fn entries_record_their_arguments_readably_and_keep_secrets_out() {
    let dir = filled();
    {
        let store = Store::open(dir.path()).unwrap();
        memo::with_store(&store, || {
            forecast("Lyon", 3, Celsius(21.5));
            open_handle(Handle(7));
            fetch(&Request {
                url: "https://example.invalid/a".into(),
                token: "s3cret-token".into(),
            });
            login("ada", "hunter2");
            tally(4, true);
            greet(&"long ".repeat(2_000));
        });
    }
    let args_of = |function: &str| -> Value {
        json(dir.path(), &["ls", "--fn", function])[0]["args"].clone()
    };
    assert_eq!(
        args_of("forecast"),
        "city = \"Lyon\", days = 3, at = 21.5°C",
        "std types and a Debug of the user's"
    );
    assert_eq!(
        args_of("open_handle"),
        "handle = <Handle>",
        "no Debug: the type"
    );
    assert_eq!(
        args_of("fetch"),
        "request = Request { url: \"https://example.invalid/a\", .. }",
        "a skipped field stays out"
    );
    assert_eq!(args_of("login"), Value::Null, "hidden");
    assert_eq!(args_of("tally"), "n = 4", "a skipped argument stays out");
    let long = json(dir.path(), &["ls", "--fn", "greet"])
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["args"].as_str().map(str::to_owned))
        .find(|a| a.starts_with("name = \"long"))
        .unwrap();
    assert!(long.ends_with('…') && long.len() < 320, "{}", long.len());

    // No secret anywhere in the store's files.
    for file in walk(dir.path()) {
        let bytes = std::fs::read(&file).unwrap();
        for secret in [&b"s3cret-token"[..], b"hunter2"] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "{} holds a secret",
                file.display()
            );
        }
    }

    // `Memo` arguments read as their hash; `show` names the function that produced it.
    let total = key_of(dir.path(), "total");
    let shown = ok(dir.path(), &["show", &total[..8]]);
    let line = shown.lines().find(|l| l.starts_with("args")).unwrap();
    assert!(
        line.contains("data = Memo<Vec<u32>>#") && line.contains("(from cli::load)"),
        "{line}"
    );
    let table = ok(dir.path(), &["ls", "--fn", "forecast"]);
    assert!(
        table.contains("ARGS") && table.contains("city = \"Lyon\""),
        "{table}"
    );
    let login = key_of(dir.path(), "login");
    assert!(ok(dir.path(), &["show", &login[..8]]).contains("args         (not recorded)"));
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[cached(name = "scale")]
fn scale_v1(x: u32) -> u32 {
    x * 2
}

#[cached(name = "scale")]
fn scale_v2(x: u32) -> u32 {
    x * 3
}

#[cached(name = "scale")]
fn scale_v3(x: u32) -> u32 {
    x + x + x
}

#[test]
fn history_lists_every_version_of_one_call_and_whether_its_output_changed() {
    let dir = tempfile::tempdir().unwrap();
    for version in [scale_v1 as fn(u32) -> u32, scale_v2, scale_v3] {
        // A run of the program with each version of `scale`.
        let store = Store::open(dir.path()).unwrap();
        memo::with_store(&store, || {
            version(7);
            version(9); // another call: not in 7's history
        });
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let latest = json(dir.path(), &["ls", "--fn", "scale"])
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["args"] == "x = 7")
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let history = json(dir.path(), &["history", &latest[..8]]);
    let versions = history["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 3, "{history}");
    let changed: Vec<&Value> = versions.iter().map(|v| &v["output_changed"]).collect();
    assert_eq!(
        changed,
        [&Value::Null, &Value::from(true), &Value::from(false)],
        "v2 changed the output, v3 did not: {history}"
    );
    let fingerprints: std::collections::HashSet<&str> = versions
        .iter()
        .map(|v| v["fingerprint"].as_str().unwrap())
        .collect();
    assert_eq!(fingerprints.len(), 3, "three versions of the code");
    assert_eq!(versions[2]["current"], true);
    assert_eq!(history["args"], "x = 7");
    let text = ok(dir.path(), &["history", &latest[..8]]);
    assert!(
        text.contains("changed") && text.contains("same") && text.contains("(current)"),
        "{text}"
    );
    // `gc --stale` removes the older versions; the history is then the current one.
    ok(dir.path(), &["gc", "--stale"]);
    let after = json(dir.path(), &["history", &latest[..8]]);
    assert_eq!(after["versions"].as_array().unwrap().len(), 1, "{after}");
}

/// A store directory others may write to is refused by every command, and `memo doctor`
/// says what to do about it rather than to repair a file that is not damaged.
#[test]
fn a_store_others_may_write_to_is_refused_and_doctor_says_why() {
    use std::os::unix::fs::PermissionsExt;
    let dir = filled();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let error = fails(dir.path(), &["ls"], 1);
    assert!(
        error.contains("refused") && error.contains("others may write"),
        "{error}"
    );
    let doctor = ok(dir.path(), &["doctor"]);
    assert!(doctor.contains("not yours alone"), "{doctor}");
    assert!(!doctor.contains("verify --repair"), "{doctor}");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(json(dir.path(), &["ls"]).as_array().unwrap().len(), 7);
}
