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
