//! The options a pipeline needs at run time: `#[cached(flag)]` says whether a result came
//! from the cache; `MEMO_BYPASS` names functions that always run uncached; `memo::enabled`
//! turns caching on again inside a `bypass`.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};

use memo::{Cached, Store, cached};
use support::child::{child, in_child};

static RUNS: AtomicU32 = AtomicU32::new(0);

fn runs() -> u32 {
    RUNS.load(Ordering::SeqCst)
}

#[cached(flag)]
fn flagged(x: u64) -> u64 {
    RUNS.fetch_add(1, Ordering::SeqCst);
    x * 10
}

#[cached(flag)]
fn flagged_fallible(x: u64) -> Result<u64, String> {
    if x == 0 {
        return Err("zero".into());
    }
    Ok(x + 1)
}

#[cached(flag)]
fn flagged_text(name: &str) -> Option<String> {
    (!name.is_empty()).then(|| format!("hello {name}"))
}

#[cached(flag)]
async fn flagged_async(x: u64) -> u64 {
    x * 3
}

#[test]
fn a_flagged_function_says_whether_each_result_was_a_hit() {
    let store = Store::temporary().unwrap();
    memo::with_store(&store, || {
        let first: Cached<u64> = flagged(4);
        assert!(!first.was_hit());
        assert_eq!(*first, 40);
        let second = flagged(4);
        assert!(second.was_hit());
        assert_eq!(second.into_inner(), 40);
        assert!(!flagged(5).was_hit(), "other arguments: computed");
        // Under a bypass, nothing is a hit; `refresh` recomputes.
        assert!(!memo::bypass(|| flagged(4)).was_hit());
        assert!(!memo::refresh(|| flagged(4)).was_hit());
        assert!(flagged(4).was_hit());

        // An `Err` is never stored, so never a hit.
        for _ in 0..2 {
            let failed = flagged_fallible(0);
            assert!(!failed.was_hit());
            assert_eq!(failed.as_ref().as_ref().unwrap_err(), "zero");
        }
        assert!(!flagged_fallible(1).was_hit());
        assert_eq!(*flagged_fallible(1), Ok(2));
        assert!(flagged_fallible(1).was_hit());
        // An `Option` is a result like any other: `None` is stored too.
        assert!(!flagged_text("").was_hit());
        assert!(flagged_text("").was_hit());
        assert!(!flagged_text("ada").was_hit());
        let hit = flagged_text("ada");
        assert!(hit.was_hit());
        assert_eq!(hit.as_deref(), Some("hello ada"));
    });
    assert_eq!(
        runs(),
        4,
        "computed: 4, 5, and 4 under bypass and under refresh"
    );
}

#[test]
fn a_flagged_async_function_says_so_too() {
    let store = Store::temporary().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(memo::with_store_async(&store, async {
        let first = flagged_async(2).await;
        assert!(!first.was_hit());
        let second = flagged_async(2).await;
        assert!(second.was_hit());
        assert_eq!(*second, 6);
    }));
}

#[cached]
fn counted(x: u64) -> u64 {
    x
}

#[test]
fn enabled_turns_caching_on_inside_a_bypass() {
    let store = Store::temporary().unwrap();
    memo::with_store(&store, || {
        memo::bypass(|| {
            counted(1);
            assert_eq!(
                store.stats().unwrap().entries,
                0,
                "bypassed: nothing stored"
            );
            memo::enabled(|| counted(1));
            assert_eq!(store.stats().unwrap().entries, 1, "enabled: stored");
            memo::enabled(|| memo::bypass(|| counted(2)));
            assert_eq!(store.stats().unwrap().entries, 1, "bypass inside enabled");
        });
        counted(1);
        assert_eq!(store.stats().unwrap().hits, 1);
    });
}

mod fetch {
    use super::*;

    #[cached]
    pub fn latest(x: u64) -> u64 {
        RUNS.fetch_add(1, Ordering::SeqCst);
        x
    }

    #[cached]
    pub fn archived(x: u64) -> u64 {
        RUNS.fetch_add(1, Ordering::SeqCst);
        x
    }
}

#[cached]
fn plain(x: u64) -> u64 {
    RUNS.fetch_add(1, Ordering::SeqCst);
    x
}

#[cached]
fn tool(x: u64) -> u64 {
    RUNS.fetch_add(1, Ordering::SeqCst);
    x
}

/// Calls each function twice (inside `enabled` the second time) and prints which ran
/// both times.
#[test]
#[ignore = "run by the test below, as a child process"]
fn child_calls() {
    if !in_child() {
        return;
    }
    type Function = fn(u64) -> u64;
    let functions: [(&str, Function); 4] = [
        ("latest", fetch::latest),
        ("archived", fetch::archived),
        ("plain", plain),
        ("tool", tool),
    ];
    for (name, f) in functions {
        let before = runs();
        f(1);
        memo::enabled(|| f(1));
        println!("{name} ran {}", runs() - before);
    }
}

fn ran_under(list: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = child("child_calls", dir.path())
        .env("MEMO_BYPASS", list)
        .output()
        .unwrap();
    assert!(out.status.success());
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn memo_bypass_names_functions_that_always_run_uncached() {
    let (out, err) = ran_under("run_options::fetch::*, tool");
    for line in [
        "latest ran 2",
        "archived ran 2",
        "tool ran 2",
        "plain ran 1",
    ] {
        assert!(out.contains(line), "{line:?}:\n{out}\n{err}");
    }
    assert!(!err.contains("MEMO_BYPASS"), "{err}");
    let (out, _) = ran_under("crate::fetch::latest");
    for line in ["latest ran 2", "archived ran 1", "plain ran 1"] {
        assert!(out.contains(line), "{line:?}:\n{out}");
    }
    // A malformed pattern is said once and left out; the rest still apply.
    let (out, err) = ran_under("fetch::*archived, run_options::plain");
    assert!(
        out.contains("plain ran 2") && out.contains("archived ran 1"),
        "{out}"
    );
    assert_eq!(err.matches("MEMO_BYPASS").count(), 1, "{err}");
    assert!(err.contains("fetch::*archived"), "{err}");
    // Unset: everything is cached.
    let (out, _) = ran_under("");
    assert_eq!(out.matches(" ran 1").count(), 4, "{out}");
}

static ATTEMPTS: AtomicU32 = AtomicU32::new(0);

/// Fails until the `succeed_at`-th attempt of all (counted across calls).
#[cached(retries = 3)]
fn flaky(key: &str, succeed_at: u32) -> Result<String, String> {
    let attempt = ATTEMPTS.fetch_add(1, Ordering::SeqCst) + 1;
    if attempt < succeed_at {
        Err(format!("attempt {attempt} failed"))
    } else {
        Ok(format!("{key} on attempt {attempt}"))
    }
}

#[cached(retries = 2)]
fn maybe(name: String, found_at: u32) -> Option<String> {
    let attempt = ATTEMPTS.fetch_add(1, Ordering::SeqCst) + 1;
    (attempt >= found_at).then(|| format!("{name}@{attempt}"))
}

#[cached(retries = 2)]
async fn flaky_async(x: u32, succeed_at: u32) -> Result<u32, String> {
    let attempt = ATTEMPTS.fetch_add(1, Ordering::SeqCst) + 1;
    if attempt < succeed_at {
        Err("not yet".into())
    } else {
        Ok(x + attempt)
    }
}

#[test]
fn retries_run_a_failed_call_again_and_store_only_a_success() {
    let store = Store::temporary().unwrap();
    let attempts = || ATTEMPTS.swap(0, Ordering::SeqCst);
    memo::with_store(&store, || {
        attempts();
        // Fails twice, then succeeds: three attempts, the success stored.
        assert_eq!(flaky("a", 3).as_deref(), Ok("a on attempt 3"));
        assert_eq!(attempts(), 3);
        assert_eq!(flaky("a", 3).as_deref(), Ok("a on attempt 3"));
        assert_eq!(attempts(), 0, "a hit");
        // Always fails: the first try and three retries, the last error returned, nothing
        // stored.
        let started = std::time::Instant::now();
        assert_eq!(flaky("b", 100), Err("attempt 4 failed".into()));
        assert_eq!(attempts(), 4);
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(70),
            "backs off 10, 20 and 40 ms"
        );
        assert_eq!(flaky("b", 100), Err("attempt 4 failed".into()));
        assert_eq!(attempts(), 4, "a failure is never stored");
        // An `Option` fails on `None`; its `Some` is stored.
        assert_eq!(maybe("x".into(), 2).as_deref(), Some("x@2"));
        assert_eq!(attempts(), 2);
        assert_eq!(maybe("x".into(), 2).as_deref(), Some("x@2"));
        assert_eq!(attempts(), 0, "stored");
        assert_eq!(maybe("y".into(), 100), None);
        assert_eq!(attempts(), 3);
        assert_eq!(maybe("y".into(), 100), None);
        assert_eq!(attempts(), 3, "a `None` is retried, never stored");
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(memo::with_store_async(&store, async {
        attempts();
        assert_eq!(flaky_async(10, 2).await, Ok(12));
        assert_eq!(attempts(), 2);
        assert_eq!(flaky_async(10, 2).await, Ok(12));
        assert_eq!(attempts(), 0);
    }));
}
