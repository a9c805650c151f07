//! A circuit breaker: a server that failed is skipped (one atomic load a call) until a
//! backoff has passed, and then one call tries it again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The first and the longest wait before a failed server is tried again, in ms.
const BACKOFF: (u64, u64) = (100, 30_000);

/// Closed, or open until a moment; half-open lets one call through.
pub(super) struct Breaker {
    /// When calls may try the server again, in ms since `start`; 0 when closed.
    open_until: AtomicU64,
    /// The next wait after a failure.
    backoff: AtomicU64,
    start: Instant,
}

impl Default for Breaker {
    fn default() -> Breaker {
        Breaker {
            open_until: AtomicU64::new(0),
            backoff: AtomicU64::new(BACKOFF.0),
            start: Instant::now(),
        }
    }
}

impl Breaker {
    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64 + 1
    }

    pub(super) fn is_closed(&self) -> bool {
        self.open_until.load(Ordering::Acquire) == 0
    }

    /// Whether a call may try the server: always when closed; when open, once its time
    /// has come (that call claims the next wait, so the others keep skipping).
    #[inline]
    pub(super) fn allows(&self) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        let now = self.now();
        now >= until
            && self
                .open_until
                .compare_exchange(
                    until,
                    now + self.backoff.load(Ordering::Acquire),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
    }

    pub(super) fn succeeded(&self) {
        if self.open_until.load(Ordering::Acquire) != 0 {
            self.open_until.store(0, Ordering::Release);
            self.backoff.store(BACKOFF.0, Ordering::Release);
            crate::warn::debug(|| "the shared tier answers again".into());
        }
    }

    pub(super) fn failed(&self) {
        let wait = self.backoff.load(Ordering::Acquire);
        self.open_until.store(self.now() + wait, Ordering::Release);
        self.backoff
            .store((wait * 2).min(BACKOFF.1), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_breaker_opens_backs_off_and_closes_again() {
        let breaker = Breaker::default();
        assert!(breaker.allows());
        breaker.failed();
        assert!(!breaker.allows(), "open right after a failure");
        std::thread::sleep(Duration::from_millis(120));
        assert!(breaker.allows(), "one call tries again after the backoff");
        assert!(!breaker.allows(), "and only one");
        breaker.failed();
        assert_eq!(
            breaker.backoff.load(Ordering::Relaxed),
            400,
            "the wait doubles"
        );
        breaker.succeeded();
        assert!(breaker.is_closed() && breaker.allows());
        assert_eq!(breaker.backoff.load(Ordering::Relaxed), BACKOFF.0);
    }
}
