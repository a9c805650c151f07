//! The fingerprint sees what is decided outside a function's own source: the build
//! configuration (profile, features, `cfg`s from build scripts, edition, `env!` values),
//! dependencies reached through other local crates, patched crates, and what `Self` is in
//! a method. Each case is a real crate, built, run, changed and built again.

mod support;

use support::crates::{Build, Case, ran};

const MODES: &str = r#"
use memo::cached;

#[cached]
fn mode(x: u64) -> String {
    println!("ran mode");
    if cfg!(debug_assertions) { format!("debug {x}") } else { format!("release {x}") }
}

#[cached]
fn wraps(x: u8) -> u8 {
    println!("ran wraps");
    std::hint::black_box(x).wrapping_add(1)
}

#[cached]
fn feature(x: u64) -> String {
    println!("ran feature");
    format!("{} {x}", flavour())
}

#[cfg(feature = "fast")]
fn flavour() -> &'static str { "fast" }
#[cfg(not(feature = "fast"))]
fn flavour() -> &'static str { "slow" }

#[cached]
fn setting(x: u64) -> String {
    println!("ran setting");
    format!("{} {x}", option_env!("FP_SETTING").unwrap_or("none"))
}

fn main() {
    println!("result {} {} {} {}", mode(1), wraps(1), feature(1), setting(1));
}
"#;

fn modes(name: &str) -> Case {
    Case::new(name, "\n[features]\nfast = []", &[("src/main.rs", MODES)])
}

const ALL: [&str; 4] = ["feature", "mode", "setting", "wraps"];

#[test]
fn debug_and_release_builds_never_share_a_result() {
    let case = modes("profiles");
    let release = Build {
        release: true,
        ..Build::default()
    };
    assert_eq!(ran(&case.run()), ALL);
    let out = case.run_with(release);
    assert_eq!(ran(&out), ALL, "a release build computes its own: {out}");
    assert!(out.contains("result release 1"), "{out}");
    let out = case.run();
    assert!(
        ran(&out).is_empty() && out.contains("result debug 1"),
        "{out}"
    );
    let out = case.run_with(release);
    assert!(
        ran(&out).is_empty() && out.contains("result release 1"),
        "{out}"
    );
    // Overflow checks turned on in release: a miss, although the source is the same.
    let checked = Build {
        release: true,
        env: &[("CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS", "true")],
        ..Build::default()
    };
    assert_eq!(ran(&case.run_with(checked)), ALL);
}

#[test]
fn the_crates_features_are_part_of_the_fingerprint() {
    let case = modes("features");
    assert_eq!(ran(&case.run()), ALL);
    let fast = Build {
        cargo_args: &["--features", "fast"],
        ..Build::default()
    };
    let out = case.run_with(fast);
    assert!(out.contains("result debug 1 2 fast 1"), "{out}");
    assert!(ran(&out).contains(&"feature".to_owned()), "{out}");
    let out = case.run();
    assert!(
        ran(&out).is_empty() && out.contains("slow 1"),
        "the old result is back: {out}"
    );
}

#[test]
fn env_values_read_at_compile_time_count_from_the_shell_and_cargo_config() {
    let case = modes("env_values");
    assert_eq!(ran(&case.run()), ALL);
    assert!(ran(&case.run()).is_empty());
    let shell = Build {
        env: &[("FP_SETTING", "shell")],
        ..Build::default()
    };
    let out = case.run_with(shell);
    assert_eq!(
        ran(&out),
        ["setting"],
        "only the reader of FP_SETTING: {out}"
    );
    assert!(out.contains("shell 1"), "{out}");
    case.write(".cargo/config.toml", "[env]\nFP_SETTING = \"configured\"\n");
    let out = case.run();
    assert_eq!(ran(&out), ["setting"], "{out}");
    assert!(out.contains("configured 1"), "{out}");
}

const BUILD_CFG: &str = r#"
use memo::cached;

#[cached]
fn f(x: u64) -> u64 {
    println!("ran f");
    if cfg!(fp_turbo) { x * 100 } else { x }
}

fn main() {
    println!("result {}", f(3));
}
"#;

const BUILD_SCRIPT: &str = r#"
fn main() {
    println!("cargo::rerun-if-changed=turbo.flag");
    println!("cargo::rustc-check-cfg=cfg(fp_turbo)");
    if std::path::Path::new("turbo.flag").exists() {
        println!("cargo::rustc-cfg=fp_turbo");
    }
}
"#;

#[test]
fn a_cfg_set_by_a_build_script_counts() {
    let case = Case::new(
        "build_cfg",
        "",
        &[("src/main.rs", BUILD_CFG), ("build.rs", BUILD_SCRIPT)],
    );
    case.baseline();
    case.write("turbo.flag", "");
    let out = case.expect(true);
    assert!(out.contains("result 300"), "{out}");
}

#[test]
fn an_edition_change_is_a_miss() {
    let case = Case::new("edition", "", &[("src/main.rs", BUILD_CFG)]);
    case.baseline();
    case.edit("Cargo.toml", "edition = \"2024\"", "edition = \"2021\"");
    case.expect(true);
}

const KEYS: &str = r#"
use memo::cached;

#[cached]
fn f(x: u64) -> String {
    println!("ran f");
    let mut map = serde_json::Map::new();
    map.insert("zebra".into(), x.into());
    map.insert("apple".into(), x.into());
    serde_json::to_string(&map).unwrap()
}

fn main() {
    println!("result {}", f(1));
}
"#;

#[test]
fn a_dependency_feature_changes_the_fingerprint() {
    let case = Case::new(
        "dep_feature",
        "serde_json = \"1\"",
        &[("src/main.rs", KEYS)],
    );
    case.baseline();
    case.edit(
        "Cargo.toml",
        "serde_json = \"1\"",
        "serde_json = { version = \"1\", features = [\"preserve_order\"] }",
    );
    let out = case.expect(true);
    assert!(out.contains(r#"result {"zebra":1,"apple":1}"#), "{out}");
}

const SHAPES_APP: &str = r#"
use memo::cached;

#[cached]
fn f(x: u64) -> shapes::Pair {
    println!("ran f");
    shapes::pair(x)
}

#[cached]
fn digits(x: u64) -> String {
    println!("ran digits");
    shapes::digits(x)
}

fn main() {
    let p = f(2);
    println!("result {} {} {}", p.first, p.second, digits(7));
}
"#;

const SHAPES: &str = r#"
pub use basis::Pair;

pub fn pair(x: u64) -> Pair {
    Pair { first: basis::scale(x), second: x }
}

pub fn digits(x: u64) -> String {
    let mut buffer = itoa::Buffer::new();
    format!("{} {}", buffer.format(x), include_str!("../data/table.txt").trim())
}
"#;

const BASIS: &str = r#"
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Pair {
    pub first: u64,
    pub second: u64,
}

pub fn scale(x: u64) -> u64 {
    x * 10
}
"#;

fn layered(name: &str) -> Case {
    let manifest = |name: &str, deps: &str| {
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\n{deps}\n"
        )
    };
    let case = Case::new(
        name,
        "shapes = { path = \"shapes\" }",
        &[
            ("src/main.rs", SHAPES_APP),
            (
                "shapes/Cargo.toml",
                &manifest(
                    "shapes",
                    "basis = { path = \"../basis\" }\nitoa = \"=1.0.10\"\n# a comment",
                ),
            ),
            ("shapes/src/lib.rs", SHAPES),
            ("shapes/data/table.txt", "table v1\n"),
            ("shapes/tests/it.rs", "#[test]\nfn t() {}\n"),
            (
                "basis/Cargo.toml",
                &manifest(
                    "basis",
                    "serde = { version = \"1\", features = [\"derive\"] }",
                ),
            ),
            ("basis/src/lib.rs", BASIS),
        ],
    );
    assert_eq!(ran(&case.run()), ["digits", "f"]);
    assert!(ran(&case.run()).is_empty());
    case
}

#[test]
fn a_crate_two_path_dependencies_down_counts_and_its_noise_does_not() {
    let case = layered("layered_edit");
    case.edit("basis/src/lib.rs", "x * 10", "// a comment\n    x * 10");
    case.edit(
        "shapes/tests/it.rs",
        "fn t() {}",
        "fn t() { assert!(true) }",
    );
    case.edit("shapes/Cargo.toml", "# a comment", "# another comment");
    let out = case.run();
    assert!(
        ran(&out).is_empty(),
        "comments, tests and manifest comments do not count: {out}"
    );
    case.edit("basis/src/lib.rs", "x * 10", "x * 20");
    let out = case.run();
    assert!(
        ran(&out).contains(&"f".to_owned()) && out.contains("result 40 2"),
        "{out}"
    );
}

#[test]
fn a_file_included_by_a_path_dependency_counts() {
    let case = layered("layered_file");
    case.write("shapes/data/table.txt", "table v2\n");
    let out = case.run();
    assert!(
        ran(&out).contains(&"digits".to_owned()) && out.contains("7 table v2"),
        "{out}"
    );
}

#[test]
fn a_registry_crate_under_a_path_dependency_counts() {
    let case = layered("layered_registry");
    case.edit(
        "shapes/Cargo.toml",
        "itoa = \"=1.0.10\"",
        "itoa = \"=1.0.11\"",
    );
    let out = case.run();
    assert!(ran(&out).contains(&"digits".to_owned()), "{out}");
}

/// Bytes stored for `Pair { first, second }` decode into the swapped shape too: only the
/// fingerprint can tell them apart.
#[test]
fn a_reordered_return_type_two_crates_down_is_a_miss() {
    let case = layered("layered_shape");
    case.edit(
        "basis/src/lib.rs",
        "    pub first: u64,\n    pub second: u64,",
        "    pub second: u64,\n    pub first: u64,",
    );
    let out = case.run();
    assert!(ran(&out).contains(&"f".to_owned()), "{out}");
    assert!(
        out.contains("result 20 2"),
        "never the swapped values: {out}"
    );
}

const PATCHED_APP: &str = r#"
use memo::cached;

#[cached]
fn f(x: u64) -> String {
    println!("ran f");
    itoa::Buffer::new().format(x).to_owned()
}

fn main() {
    println!("result {}", f(5));
}
"#;

const FAKE_ITOA: &str = r#"
pub struct Buffer(String);

impl Buffer {
    pub fn new() -> Buffer {
        Buffer(String::new())
    }

    pub fn format(&mut self, x: u64) -> &str {
        self.0 = format!("<{x}>");
        &self.0
    }
}
"#;

#[test]
fn a_crate_replaced_by_patch_is_fingerprinted_by_its_content() {
    let case = Case::new(
        "patched",
        "itoa = \"1\"\n\n[patch.crates-io]\nitoa = { path = \"itoa\" }",
        &[
            ("src/main.rs", PATCHED_APP),
            (
                "itoa/Cargo.toml",
                "[package]\nname = \"itoa\"\nversion = \"1.0.18\"\nedition = \"2021\"\n",
            ),
            ("itoa/src/lib.rs", FAKE_ITOA),
        ],
    );
    case.baseline();
    case.edit("itoa/src/lib.rs", "<{x}>", "[{x}]");
    let out = case.expect(true);
    assert!(out.contains("result [5]"), "{out}");
}

const POINT: &str = r#"
use std::fmt;
use memo::cached;

#[derive(serde::Serialize, serde::Deserialize, memo::CacheKey)]
struct Point {
    x: u64,
    y: u64,
}

impl Point {
    #[cached]
    fn origin() -> Self {
        println!("ran origin");
        Self { x: 1, y: 2 }
    }

    #[cached]
    fn label(&self) -> String {
        println!("ran label");
        format!("{self}")
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.x, self.y)
    }
}

fn main() {
    let p = Point::origin();
    println!("result {} {} {}", p.x, p.y, p.label());
}
"#;

#[test]
fn what_self_is_counts_in_a_method() {
    let case = Case::new(
        "self_type",
        "serde = { version = \"1\", features = [\"derive\"] }",
        &[("src/main.rs", POINT)],
    );
    assert_eq!(ran(&case.run()), ["label", "origin"]);
    assert!(ran(&case.run()).is_empty());
    case.edit(
        "src/main.rs",
        "    x: u64,\n    y: u64,",
        "    y: u64,\n    x: u64,",
    );
    let out = case.run();
    assert!(ran(&out).contains(&"origin".to_owned()), "{out}");
    assert!(
        out.contains("result 1 2 (1, 2)"),
        "never the swapped values: {out}"
    );
    case.edit("src/main.rs", "\"({}, {})\"", "\"<{}; {}>\"");
    let out = case.run();
    assert!(
        ran(&out).contains(&"label".to_owned()) && out.contains("<1; 2>"),
        "{out}"
    );
}

const EXPLAINED_MAIN: &str = r#"
mod a;

fn main() {
    println!("result {}", a::f(3));
    println!("{}", memo::explain("f").expect("f is registered"));
}
"#;

const EXPLAINED_A: &str = r#"use memo::cached;
#[allow(unused_imports)]
use serde_json::*;

#[cached]
pub fn f(x: u64) -> String {
    println!("ran f");
    let table = include_str!("../data/table.txt").trim();
    if cfg!(feature = "fast") { format!("fast {table} {x}") } else { format!("{table} {x}") }
}
"#;

/// What `memo::explain` (and `memo explain`, which prints the same record) says a
/// function is made of names the build configuration, the crates, the files and where
/// the walk widened.
#[test]
fn explain_names_the_build_configuration_crates_files_and_widened_globs() {
    let case = Case::new(
        "explained",
        "serde_json = \"1\"\n\n[features]\ndefault = [\"fast\"]\nfast = []",
        &[
            ("src/main.rs", EXPLAINED_MAIN),
            ("src/a.rs", EXPLAINED_A),
            ("data/table.txt", "table v1\n"),
        ],
    );
    let out = case.run();
    assert!(out.contains("result fast table v1 3"), "{out}");
    let line = |kind: &str, needle: &str| {
        out.lines().any(|l| {
            let mut words = l.split_whitespace();
            words.next() == Some(kind) && l.contains(needle)
        })
    };
    assert!(line("cfg", "feature=\"fast\""), "{out}");
    assert!(line("crate", "serde_json@1."), "{out}");
    assert!(line("file", "table.txt"), "{out}");
    assert!(
        line("widened", "glob import `use serde_json::*`") && line("widened", "src/a.rs:3"),
        "{out}"
    );
    // The widened entry says where the glob is; moving the import is no change.
    case.edit("src/a.rs", "use memo::cached;\n", "use memo::cached;\n\n\n");
    let out = case.run();
    assert!(!out.contains("ran f"), "{out}");
    assert!(out.contains("src/a.rs:5"), "{out}");
}
