//! `#[cached(retries = N)]`: a call whose body returns an `Err` (or a `None`) runs again,
//! after a short backoff, up to N more times; the failure it ends with is returned and,
//! like every failure, never stored.

use std::future::Future;
use std::time::Duration;

/// The first pause between two attempts; each after it doubles, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// A return that says whether its attempt failed.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[cached(retries)]` retries a failed call: the function must return a `Result` or an `Option`, not `{Self}`",
    label = "neither a `Result` nor an `Option`"
)]
pub trait Retry {
    /// Whether this attempt failed: an `Err`, or a `None`.
    fn failed(&self) -> bool;
}

impl<T, E> Retry for Result<T, E> {
    fn failed(&self) -> bool {
        self.is_err()
    }
}

impl<T> Retry for Option<T> {
    fn failed(&self) -> bool {
        self.is_none()
    }
}

/// An argument of a function with `retries`: each attempt runs on its own clone.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[cached(retries)]` runs the function again after a failure, so each argument must be `Clone`; `{Self}` is not",
    label = "not `Clone`"
)]
pub trait RetryArg {}

impl<T: Clone> RetryArg for T {}

/// Checks, at compile time, that an argument of type `T` can be given to another attempt.
#[doc(hidden)]
pub fn retry_arg<T: RetryArg>() {}

/// The pause before attempt `n` (counted from 1 for the first retry).
fn backoff(n: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1 << n.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

/// Runs `attempt` until it succeeds or has been retried `retries` times; its last return.
#[doc(hidden)]
pub fn retrying<R: Retry>(retries: u32, mut attempt: impl FnMut() -> R) -> R {
    let mut result = attempt();
    for n in 1..=retries {
        if !result.failed() {
            break;
        }
        std::thread::sleep(backoff(n));
        result = attempt();
    }
    result
}

/// [`retrying`] for an `async fn`: its pauses are waited out on a thread of their own, so
/// the executor is never blocked.
#[doc(hidden)]
pub async fn retrying_async<R: Retry, F: Future<Output = R>>(
    retries: u32,
    mut attempt: impl FnMut() -> F,
) -> R {
    let mut result = attempt().await;
    for n in 1..=retries {
        if !result.failed() {
            break;
        }
        let pause = backoff(n);
        super::offload::run(move || std::thread::sleep(pause)).await;
        result = attempt().await;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_ten_ms_up_to_a_second() {
        assert_eq!(backoff(1), Duration::from_millis(10));
        assert_eq!(backoff(2), Duration::from_millis(20));
        assert_eq!(backoff(4), Duration::from_millis(80));
        assert_eq!(backoff(20), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn attempts_stop_at_the_first_success_or_after_the_retries() {
        let mut tries = 0;
        let ok: Result<u32, ()> = retrying(5, || {
            tries += 1;
            if tries < 3 { Err(()) } else { Ok(tries) }
        });
        assert_eq!((ok, tries), (Ok(3), 3));
        let mut tries = 0;
        let none: Option<()> = retrying(2, || {
            tries += 1;
            None
        });
        assert_eq!((none, tries), (None, 3));
        let mut tries = 0;
        let zero: Result<(), ()> = retrying(0, || {
            tries += 1;
            Err(())
        });
        assert_eq!((zero, tries), (Err(()), 1));
    }
}
