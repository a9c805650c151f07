//! Wall-clock time as milliseconds since the Unix epoch, the unit of every stored time.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How far a stored time may lie ahead of this clock before it counts as from the future:
/// the clocks of machines sharing a tier differ by a little.
pub(crate) const AHEAD_TOLERANCE_MS: u64 = 60_000;

/// What tests add to the clock ([`crate::raw::skew_clock`]), in ms.
static SKEW_MS: AtomicI64 = AtomicI64::new(0);

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    let now = to_ms(SystemTime::now());
    match SKEW_MS.load(Ordering::Relaxed) {
        0 => now,
        skew => now.saturating_add_signed(skew),
    }
}

/// Moves this process's clock by `ms` (tests only: a clock set wrong, or stepped back).
pub(crate) fn skew(ms: i64) {
    SKEW_MS.store(ms, Ordering::Relaxed);
}

/// A record's times as they should be read at `now`: one created after `now` (written
/// with a clock ahead, or before this clock was stepped back) counts as created `now`,
/// its expiry the same time after; `None` when they need no change.
pub(crate) fn from_the_future(
    created_ms: u64,
    expires_ms: Option<u64>,
    now: u64,
) -> Option<(u64, Option<u64>)> {
    if created_ms <= now.saturating_add(AHEAD_TOLERANCE_MS) {
        return None;
    }
    let ttl = expires_ms.map(|at| at.saturating_sub(created_ms));
    Some((now, ttl.map(|ttl| now.saturating_add(ttl))))
}

pub(crate) fn to_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub(crate) fn from_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

pub(crate) fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_from_the_future_count_from_now_and_keep_their_ttl() {
        let now = 1_000_000_000;
        assert_eq!(from_the_future(now - 5, Some(now + 10), now), None);
        assert_eq!(
            from_the_future(now + AHEAD_TOLERANCE_MS, None, now),
            None,
            "a clock a little ahead is no future"
        );
        let year = 365 * 24 * 3_600_000;
        assert_eq!(
            from_the_future(now + year, Some(now + year + 3_600_000), now),
            Some((now, Some(now + 3_600_000)))
        );
        assert_eq!(from_the_future(now + year, None, now), Some((now, None)));
    }
}
