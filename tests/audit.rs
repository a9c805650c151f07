//! `MEMO_AUDIT`, the run-time net: a real crate whose functions depend on what no
//! fingerprint sees (a file read by name, a counter), built once and run with and without
//! the audit, asserting what it reports, drops and returns.

mod support;

use support::crates::{Build, Case};

const MAIN: &str = r#"
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use memo::cached;

static RUNS: AtomicU64 = AtomicU64::new(0);

/// Reads a file it is given only by name: the fingerprint cannot see the file.
#[cached]
fn reads_file(name: String) -> String {
    println!("ran reads_file");
    std::fs::read_to_string(&name).unwrap()
}

/// A name that cannot be cloned.
#[derive(memo::CacheKey)]
struct Name {
    path: String,
}

/// The same, given an argument that cannot be cloned: its body can run only once.
#[cached]
fn consumes(name: Name) -> String {
    println!("ran consumes");
    std::fs::read_to_string(name.path).unwrap()
}

/// A different result on every run of its body.
#[cached]
fn counter(x: u64) -> u64 {
    x + RUNS.fetch_add(1, Ordering::Relaxed)
}

/// Deterministic, though its encoding is not: a map's order differs from map to map.
#[cached]
fn table(n: u32) -> HashMap<u32, u32> {
    (0..n).map(|i| (i, i * i)).collect()
}

/// A fallible async function reading the file.
#[cached]
async fn later(name: String) -> Result<String, std::io::Error> {
    println!("ran later");
    std::fs::read_to_string(&name)
}

/// Cheap calls, to count how many hits are audited.
#[cached]
fn sampled(i: u32) -> u32 {
    println!("ran sampled");
    i * 2
}

fn main() {
    let data = "data.txt".to_string();
    for _ in 0..2 {
        println!("reads_file {}", reads_file(data.clone()).trim());
    }
    println!("consumes {}", consumes(Name { path: data.clone() }).trim());
    println!("counter {}", counter(100));
    println!("table {}", table(200).len());
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let later = runtime.block_on(later(data)).unwrap();
    println!("later {}", later.trim());
    for i in 0..400 {
        sampled(i);
    }
}
"#;

fn case() -> Case {
    let case = Case::new(
        "audit",
        r#"tokio = { version = "1", default-features = false, features = ["rt"] }"#,
        &[("src/main.rs", MAIN)],
    );
    case.write("data.txt", "one\n");
    case
}

fn run(case: &Case, env: &[(&str, &str)]) -> (String, String) {
    case.output_with(Build {
        env,
        ..Build::default()
    })
}

fn value<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in:\n{out}"))
}

fn runs(out: &str, name: &str) -> usize {
    out.lines().filter(|l| *l == format!("ran {name}")).count()
}

#[test]
fn an_audit_finds_what_the_fingerprint_missed_and_tells_it_from_nondeterminism() {
    let case = case();
    let (first, _) = run(&case, &[]);
    assert_eq!(value(&first, "reads_file"), "one");
    assert_eq!(runs(&first, "sampled"), 400);

    // The file changes; the code does not: without the audit the stored result stays.
    case.write("data.txt", "two\n");
    let (stale, stderr) = run(&case, &[]);
    assert_eq!(value(&stale, "reads_file"), "one", "{stale}");
    assert_eq!(runs(&stale, "reads_file"), 0);
    assert!(!stderr.contains("MEMO_AUDIT"), "{stderr}");

    let (audited, stderr) = run(&case, &[("MEMO_AUDIT", "1")]);
    // The fresh value is returned, each function's verdict is said once.
    assert_eq!(value(&audited, "reads_file"), "two", "{audited}");
    assert_eq!(value(&audited, "consumes"), "two");
    assert_eq!(value(&audited, "later"), "two");
    let said = |name: &str| {
        stderr
            .lines()
            .filter(|l| l.contains(&format!("`fp_audit::{name}`")))
            .collect::<Vec<_>>()
    };
    let reads = said("reads_file");
    assert_eq!(reads.len(), 1, "{stderr}");
    assert!(reads[0].starts_with("memo error: MEMO_AUDIT"), "{stderr}");
    assert!(
        reads[0].contains("two fresh runs agree with each other and not with it, so the fingerprint missed a change"),
        "{stderr}"
    );
    // The warning names what the fingerprint is made of.
    assert!(
        stderr.contains("fn fp_audit::reads_file (src/main.rs:"),
        "{stderr}"
    );
    // A body that consumes its argument runs once: the audit says it cannot tell.
    let consumes = said("consumes");
    assert_eq!(consumes.len(), 1, "{stderr}");
    assert!(consumes[0].contains("could not run it twice"), "{stderr}");
    assert_eq!(said("later").len(), 1, "{stderr}");
    // Two fresh runs that differ: nondeterminism, not a fingerprint miss.
    let counter = said("counter");
    assert_eq!(counter.len(), 1, "{stderr}");
    assert!(counter[0].contains("is nondeterministic"), "{stderr}");
    assert!(!counter[0].contains("missed a change"), "{stderr}");
    // ...and the stored value is what the caller gets, as without the audit.
    assert_eq!(value(&audited, "counter"), "100");
    // A map compares as a map, however its bytes are ordered.
    assert!(said("table").is_empty(), "{stderr}");
    assert!(said("sampled").is_empty(), "{stderr}");
    // Every hit was audited: each `Fn` body ran twice.
    assert_eq!(runs(&audited, "sampled"), 800);

    // The stale entries were dropped and the fresh ones stored: a plain run now hits them.
    let (after, stderr) = run(&case, &[]);
    assert_eq!(value(&after, "reads_file"), "two", "{after}");
    assert_eq!(runs(&after, "reads_file"), 0, "{after}");
    assert_eq!(value(&after, "consumes"), "two");
    assert_eq!(value(&after, "later"), "two");
    assert_eq!(runs(&after, "later"), 0, "{after}");
    assert!(stderr.is_empty(), "{stderr}");

    // A share of the hits: about half of 400, each audited body running twice.
    let (half, _) = run(&case, &[("MEMO_AUDIT", "50%")]);
    let audited = runs(&half, "sampled") / 2;
    assert!((100..=300).contains(&audited), "{audited} of 400 audited");

    // What the user asks for is read, or refused out loud.
    let (_, stderr) = run(&case, &[("MEMO_AUDIT", "often")]);
    assert!(
        stderr.contains("MEMO_AUDIT=\"often\" is not a share of hits"),
        "{stderr}"
    );
    case.write("data.txt", "three\n");
    let (quiet, stderr) = run(&case, &[("MEMO_AUDIT", "1"), ("MEMO_LOG", "off")]);
    assert_eq!(value(&quiet, "reads_file"), "three");
    assert!(stderr.is_empty(), "{stderr}");
}
