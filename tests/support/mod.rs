//! Helpers for the facade's tests: a temporary store per test, and hit/miss assertions
//! that say what they mean.

#![allow(dead_code)]

use std::cell::Cell;

use memo::Store;

thread_local! {
    static RUNS: Cell<usize> = const { Cell::new(0) };
}

/// Called by test functions' bodies: counts that a body ran, that is, a miss.
pub fn ran() {
    RUNS.set(RUNS.get() + 1);
}

/// Runs `f` against a fresh temporary store.
pub fn in_store<R>(f: impl FnOnce(&Store) -> R) -> R {
    let store = Store::temporary().unwrap();
    memo::with_store(&store, || f(&store))
}

/// Runs `f`, asserting that no cached body ran: every call was a hit.
#[track_caller]
pub fn hit<R>(f: impl FnOnce() -> R) -> R {
    let before = RUNS.get();
    let out = f();
    assert_eq!(RUNS.get(), before, "expected a hit, but the body ran");
    out
}

/// Runs `f`, asserting that a cached body ran exactly once: one miss.
#[track_caller]
pub fn miss<R>(f: impl FnOnce() -> R) -> R {
    let before = RUNS.get();
    let out = f();
    assert_eq!(RUNS.get(), before + 1, "expected one miss");
    out
}

pub mod child;
pub mod crates;
