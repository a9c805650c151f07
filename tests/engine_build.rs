//! A real program, built without memo's `sled` feature and then with it, pointed at a store
//! the sled engine wrote: without the engine it runs uncached, says once what to do, and
//! leaves the store as it was (no redb file opened empty beside it); with it, it hits.

mod support;

use memo::{Engine, Store};
use support::crates::{Build, Case};

const MAIN: &str = r#"
#[memo::cached]
fn double(x: u64) -> u64 {
    println!("ran double");
    x * 2
}

fn main() {
    assert_eq!(double(21), 42);
    assert_eq!(double(21), 42);
}
"#;

fn runs(out: &str) -> usize {
    out.lines().filter(|line| *line == "ran double").count()
}

#[test]
fn a_build_without_the_engine_refuses_its_store_and_one_with_it_uses_it() {
    let case = Case::new(
        "engine_build",
        "\n[features]\nsled = [\"memo/sled\"]",
        &[("src/main.rs", MAIN)],
    );
    let store = tempfile::tempdir().unwrap();
    drop(
        Store::builder(store.path())
            .engine(Engine::Sled)
            .open()
            .unwrap(),
    );
    let dir = store.path().to_str().unwrap();
    let env = [("MEMO_DIR", dir)];

    let (out, stderr) = case.output_with(Build {
        env: &env,
        ..Build::default()
    });
    assert_eq!(runs(&out), 2, "uncached: {out}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("memo")).collect();
    assert_eq!(warnings.len(), 1, "one warning: {stderr}");
    assert!(
        warnings[0].contains("written by the sled engine")
            && warnings[0].contains("enable memo's `sled` feature"),
        "{stderr}"
    );
    assert!(
        !store.path().join("store.redb").exists(),
        "nothing opened beside it"
    );

    let with_sled = Build {
        env: &env,
        cargo_args: &["--features", "sled"],
        ..Build::default()
    };
    let (out, stderr) = case.output_with(with_sled);
    assert_eq!(runs(&out), 1, "the second call hits: {out}{stderr}");
    let (out, _) = case.output_with(with_sled);
    assert_eq!(runs(&out), 0, "the next run hits the sled store: {out}");
    assert!(!store.path().join("store.redb").exists());
}
