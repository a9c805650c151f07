//! `#[cached(env = [..])]`: the named environment variables' values key each call, read
//! as the call finds them. One test in its own binary: it changes the environment, which
//! no other thread may read meanwhile.

use std::sync::atomic::{AtomicU32, Ordering};

use memo::{Store, cached};

static RUNS: AtomicU32 = AtomicU32::new(0);

#[cached(env = ["MEMO_TEST_MODEL_URL", "MEMO_TEST_LANG"])]
fn answer(question: u32) -> String {
    RUNS.fetch_add(1, Ordering::SeqCst);
    format!(
        "{question} from {:?} in {:?}",
        std::env::var("MEMO_TEST_MODEL_URL").ok(),
        std::env::var("MEMO_TEST_LANG").ok()
    )
}

/// One variable may be named alone.
#[cached(env = "MEMO_TEST_LANG")]
fn greeting(name: &str) -> String {
    RUNS.fetch_add(1, Ordering::SeqCst);
    format!("{name} in {:?}", std::env::var("MEMO_TEST_LANG").ok())
}

fn set(name: &str, value: Option<&str>) {
    // SAFETY: this binary's one test runs on one thread; nothing reads the environment
    // while it changes.
    unsafe {
        match value {
            Some(value) => std::env::set_var(name, value),
            None => std::env::remove_var(name),
        }
    }
}

#[test]
fn environment_changes_miss_and_changing_back_hits_again() {
    let store = Store::temporary().unwrap();
    let runs = || RUNS.load(Ordering::SeqCst);
    memo::with_store(&store, || {
        set("MEMO_TEST_MODEL_URL", Some("http://a"));
        set("MEMO_TEST_LANG", None);
        assert_eq!(answer(1), "1 from Some(\"http://a\") in None");
        assert_eq!(answer(1), "1 from Some(\"http://a\") in None");
        assert_eq!(runs(), 1, "same environment: a hit");

        set("MEMO_TEST_MODEL_URL", Some("http://b"));
        assert_eq!(answer(1), "1 from Some(\"http://b\") in None");
        assert_eq!(runs(), 2, "another value: a miss");

        // Unset and empty are two values.
        set("MEMO_TEST_LANG", Some(""));
        assert_eq!(answer(1), "1 from Some(\"http://b\") in Some(\"\")");
        assert_eq!(runs(), 3, "set but empty is not unset");

        // Back to the first environment: its result is still stored.
        set("MEMO_TEST_MODEL_URL", Some("http://a"));
        set("MEMO_TEST_LANG", None);
        assert_eq!(answer(1), "1 from Some(\"http://a\") in None");
        assert_eq!(runs(), 3, "restored: a hit");

        // The two variables are told apart: swapping their values is another key.
        set("MEMO_TEST_MODEL_URL", Some("x"));
        set("MEMO_TEST_LANG", Some("y"));
        answer(2);
        set("MEMO_TEST_MODEL_URL", Some("y"));
        set("MEMO_TEST_LANG", Some("x"));
        answer(2);
        assert_eq!(runs(), 5, "swapped values are another key");

        greeting("ada");
        greeting("ada");
        assert_eq!(runs(), 6);
        set("MEMO_TEST_LANG", Some("de"));
        assert_eq!(greeting("ada"), "ada in Some(\"de\")");
        assert_eq!(runs(), 7);
    });
}
