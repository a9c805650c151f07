//! The code of each version, on the real binary: a real crate is built, run, edited and
//! built again, and `memo explain --diff`, `memo diff` and `memo::explain` show the lines
//! that changed — in a helper, in the function itself, in a file it includes — and only
//! those.

#[allow(dead_code)]
#[path = "../../tests/support/crates.rs"]
mod crates;
mod support;

use std::path::Path;

use crates::{Build, Case};
use support::{json, ok};

const MAIN: &str = r#"
mod util;

/// Scales by the helper's factor, plus what the table says.
#[memo::cached]
fn f(x: u64) -> u64 {
    println!("ran f");
    util::helper(x) + TABLE.len() as u64
}

const TABLE: &str = include_str!("../table.txt");

fn main() {
    println!("result {}", f(5));
    let explained = memo::explain("f").expect("f is registered");
    print!("{explained}");
}
"#;

const UTIL: &str = r#"
/// The factor.
pub fn helper(x: u64) -> u64 {
    let factor = 3;
    x * factor
}

pub fn untouched(x: u64) -> u64 {
    x - 1
}
"#;

/// The fingerprint of `f`'s current version.
fn current(store: &Path) -> String {
    let explained = json(store, &["explain", "f"]);
    explained["fingerprint"].as_str().unwrap().to_owned()
}

#[test]
fn explain_diff_shows_the_lines_that_changed_in_each_version() {
    let case = Case::new(
        "code_diff",
        "",
        &[
            ("src/main.rs", MAIN),
            ("src/util.rs", UTIL),
            ("table.txt", "alpha\nbeta\ngamma\n"),
        ],
    );
    let store = case.store();
    let first = case.run();
    assert!(first.contains("ran f"), "{first}");
    let v1 = current(store);

    // A helper's edit: its lines, and nothing of the function or the other helper.
    case.edit("src/util.rs", "let factor = 3;", "let factor = 4;");
    let second = case.run();
    assert!(second.contains("ran f"), "{second}");
    let out = ok(store, &["explain", "f", "--diff"]);
    assert!(out.contains("-    let factor = 3;"), "{out}");
    assert!(out.contains("+    let factor = 4;"), "{out}");
    assert!(out.contains("crate::util::helper"), "{out}");
    assert!(
        !out.contains("untouched"),
        "an unchanged helper is not shown:\n{out}"
    );
    assert!(
        !out.contains("println!(\"ran f\")"),
        "the function itself did not change:\n{out}"
    );
    // Without `--diff`, which components changed, not their lines.
    let plain = ok(store, &["explain", "f"]);
    assert!(plain.contains("crate::util::helper"), "{plain}");
    assert!(!plain.contains("let factor"), "{plain}");
    // The program's own `memo::explain` says the same, from the text it carries and the
    // text the store kept of the version before.
    assert!(second.contains("+    let factor = 4;"), "{second}");
    assert!(second.contains("-    let factor = 3;"), "{second}");

    // The function's own body and a file it includes, in one more version.
    case.edit("src/main.rs", "util::helper(x) +", "util::helper(x) * 2 +");
    case.write("table.txt", "alpha\nBETA\ngamma\n");
    let third = case.run();
    assert!(third.contains("ran f"), "{third}");
    let explained = json(store, &["explain", "f", "--diff"]);
    let changes = explained["changes"].as_array().unwrap();
    let diff_of = |kind: &str| -> String {
        changes
            .iter()
            .find(|c| c["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} change in {explained}"))["diff"]
            .as_str()
            .unwrap_or_else(|| panic!("the {kind} change has no diff: {explained}"))
            .to_owned()
    };
    let own = diff_of("fn");
    assert!(own.contains("-    util::helper(x) + TABLE"), "{own}");
    assert!(own.contains("+    util::helper(x) * 2 + TABLE"), "{own}");
    let file = diff_of("file");
    assert!(file.contains("-beta") && file.contains("+BETA"), "{file}");
    assert!(
        changes.iter().all(|c| c["path"] != "crate::util::helper"),
        "the helper is as it was in the version before: {explained}"
    );

    // Any two versions: the first against the current one has all three edits.
    let v3 = current(store);
    let out = ok(store, &["explain", "f", &v1[..10], &v3[..10], "--diff"]);
    for line in ["+    let factor = 4;", "+BETA", "* 2 + TABLE"] {
        assert!(out.contains(line), "{line:?} missing:\n{out}");
    }

    // `memo diff` of the first and the last entry: the code diff, then the outputs.
    let entries = json(store, &["ls"]);
    let keys: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 3, "{entries}");
    let oldest = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["fingerprint"] == v1.as_str())
        .unwrap_or_else(|| panic!("no entry of the first version in {entries}"));
    let newest = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["fingerprint"] == v3.as_str())
        .unwrap();
    let out = ok(
        store,
        &[
            "diff",
            oldest["key"].as_str().unwrap(),
            newest["key"].as_str().unwrap(),
        ],
    );
    assert!(out.contains("+    let factor = 4;"), "{out}");
    assert!(out.contains("+BETA"), "{out}");

    // The code travels with an export: another store shows the same lines.
    let archive = tempfile::NamedTempFile::new().unwrap();
    let path = archive.path().to_str().unwrap();
    ok(store, &["export", path]);
    let other = tempfile::tempdir().unwrap();
    ok(other.path(), &["import", "--trust", path]);
    let out = ok(other.path(), &["explain", "f", "--diff"]);
    assert!(out.contains("+    util::helper(x) * 2 + TABLE"), "{out}");
    assert!(out.contains("+BETA"), "{out}");
}

#[test]
fn a_build_without_the_source_feature_records_what_changed_not_how() {
    let case = Case::new(
        "code_off",
        "",
        &[
            ("src/main.rs", MAIN),
            ("src/util.rs", UTIL),
            ("table.txt", "alpha\n"),
        ],
    );
    // The case's own manifest names memo with its default features; this one without.
    let manifest = std::fs::read_to_string(case.dir.path().join("Cargo.toml")).unwrap();
    let without = manifest.replace(
        "memo = { package = \"memo-persist\", path =",
        "memo = { package = \"memo-persist\", default-features = false, path =",
    );
    assert_ne!(manifest, without);
    case.write("Cargo.toml", &without);
    let build = Build::default();
    assert!(case.run_with(build).contains("ran f"));
    case.edit("src/util.rs", "let factor = 3;", "let factor = 4;");
    let out = case.run_with(build);
    assert!(out.contains("crate::util::helper ("), "{out}");
    assert!(!out.contains("let factor"), "no source is carried:\n{out}");
    let store = case.store();
    let out = ok(store, &["explain", "f", "--diff"]);
    assert!(out.contains("crate::util::helper"), "{out}");
    assert!(!out.contains("let factor"), "{out}");
    assert!(out.contains("shows what changed, not how"), "{out}");
}
