//! Expiry that no clock stretches: an entry written with the clock ahead expires its `ttl`
//! after it is first seen, and a clock stepped back does not extend one; `gc --expired`
//! and `--older-than` agree. The clock is moved for memo alone (`raw::skew_clock`), never
//! the machine's — which is process-wide, so every case is one test, run in order.

mod support;

use std::time::Duration;

use memo_runtime::Gc;
use memo_runtime::Store;
use memo_runtime::raw::skew_clock;
use support::{Runs, square};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// Puts the clock back however the test ends.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        skew_clock(0);
    }
}

#[test]
fn no_clock_stretches_an_expiry() {
    let _restore = Restore;
    let store = Store::temporary().unwrap();

    // Written with the clock a year ahead, `ttl = 1h`: fresh when first seen now, gone an
    // hour after.
    let ahead = site!(
        "clock::ahead",
        fingerprint = [1; 32],
        ttl = Some(3600),
        tags = &[]
    );
    let runs = Runs::default();
    skew_clock(365 * DAY);
    assert_eq!(square(&store, ahead, 3, &runs), 9);
    skew_clock(0);
    assert_eq!(square(&store, ahead, 3, &runs), 9);
    assert_eq!(runs.get(), 1, "first seen now: still fresh");
    skew_clock(2 * HOUR);
    assert_eq!(square(&store, ahead, 3, &runs), 9);
    assert_eq!(runs.get(), 2, "an hour after it was first seen, it expired");

    // Written now, then the clock stepped back 30 days: an hour from then, not 30 days
    // and an hour.
    let back = site!(
        "clock::back",
        fingerprint = [2; 32],
        ttl = Some(3600),
        tags = &[]
    );
    let runs = Runs::default();
    skew_clock(0);
    square(&store, back, 4, &runs);
    skew_clock(-30 * DAY);
    square(&store, back, 4, &runs);
    assert_eq!(runs.get(), 1, "still fresh");
    skew_clock(-30 * DAY + 2 * HOUR);
    square(&store, back, 4, &runs);
    assert_eq!(
        runs.get(),
        2,
        "a clock stepped back does not extend the ttl"
    );

    // `gc --expired` counts from when an entry from the future was first seen.
    let gc_ttl = site!(
        "clock::gc",
        fingerprint = [3; 32],
        ttl = Some(3600),
        tags = &[]
    );
    let gc_store = Store::temporary().unwrap();
    skew_clock(365 * DAY);
    square(&gc_store, gc_ttl, 5, &Runs::default());
    skew_clock(0);
    assert_eq!(
        gc_store.gc(&Gc::new().expired()).unwrap().entries_removed,
        0
    );
    skew_clock(2 * HOUR);
    assert_eq!(
        gc_store.gc(&Gc::new().expired()).unwrap().entries_removed,
        1,
        "expired an hour after it was first seen"
    );

    // `gc --older-than` likewise: an entry from the future is as old as since first seen.
    let plain = site!("clock::old", fingerprint = [4; 32], ttl = None, tags = &[]);
    let old_store = Store::temporary().unwrap();
    skew_clock(365 * DAY);
    square(&old_store, plain, 6, &Runs::default());
    skew_clock(0);
    let hour = Duration::from_secs(3600);
    assert_eq!(
        old_store
            .gc(&Gc::new().older_than(hour))
            .unwrap()
            .entries_removed,
        0
    );
    skew_clock(2 * HOUR);
    assert_eq!(
        old_store
            .gc(&Gc::new().older_than(hour))
            .unwrap()
            .entries_removed,
        1,
        "older than an hour, counted from when it was first seen"
    );
}

memo_runtime::suite_again_on_sled!();
