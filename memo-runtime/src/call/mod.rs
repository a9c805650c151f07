//! The call path that `#[cached]` expands into: key, look up, or compute once and store.

mod audit;
mod body;
pub(crate) mod codec;
mod describe;
pub(crate) mod exact;
mod flight;
mod flow;
mod offload;
mod retry;
mod sink;
mod site;
mod stored;
mod tier;

use std::convert::Infallible;
use std::future::Future;

use crate::Cached;
use crate::observe::{self, How};
use crate::store::Ask;
use crate::{KeyHasher, scope};
use flow::{Call, Start, Step, Tiers, degraded};

pub use body::{
    ArgsCloned, ArgsMoved, ArgsProbe, AsyncBody, Body, Cloned, Deferred, Moved, Once, SameByBytes,
    SameByEq, SameFn, SameProbe, Twice,
};
pub use describe::{
    ArgsText, Describe, DescribeByDebug, DescribeByFields, DescribeByType, DescribeFields,
    DescribeFn,
};
pub use retry::{Retry, RetryArg, retry_arg, retrying, retrying_async};
pub use site::{CallSite, Registration, SiteState, StaticComponent, registered};
pub use stored::{MemoOf, Outcome, Plain, Stored};
pub use tier::{
    MemoryUsage, Share, ShareBytes, ShareProbe, ShareTyped, memory_usage, set_memory_budget,
};

/// Runs a cached function whose every result is stored.
#[doc(hidden)]
#[inline]
pub fn call<S: Stored>(
    site: &'static CallSite,
    key: &KeyHasher,
    share: Share<S::Value>,
    compute: impl Body<S::Value, S::Value>,
) -> S::Value {
    call_flagged::<S>(site, key, share, compute).into_inner()
}

/// [`call`], saying whether the result came from the cache (`#[cached(flag)]`).
#[doc(hidden)]
#[inline]
pub fn call_flagged<S: Stored>(
    site: &'static CallSite,
    key: &KeyHasher,
    share: Share<S::Value>,
    compute: impl Body<S::Value, S::Value>,
) -> Cached<S::Value> {
    let ok = Infallibly(compute);
    call_ok_flagged::<S, Result<S::Value, Infallible>>(site, key, share, ok).map(|ok| match ok {
        Ok(value) => value,
        Err(never) => match never {},
    })
}

/// A body that cannot fail, as one whose every return is stored.
struct Infallibly<B>(B);

impl<B: Body<V, V>, V> Body<Result<V, Infallible>, V> for Infallibly<B> {
    fn run(self) -> Result<V, Infallible> {
        Ok(self.0.run())
    }

    fn run_twice(self) -> (Result<V, Infallible>, Option<Result<V, Infallible>>) {
        let (first, second) = self.0.run_twice();
        (Ok(first), second.map(Ok))
    }

    fn same_fn(&self) -> SameFn<V> {
        self.0.same_fn()
    }

    fn describe(&self) -> Option<String> {
        self.0.describe()
    }
}

impl<B: AsyncBody<V, V>, V> AsyncBody<Result<V, Infallible>, V> for Infallibly<B> {
    type Future = Oked<B::Future>;

    fn into_future(self) -> Self::Future {
        // Boxed, so that it can be polled without pinning it in place: once a call runs.
        Oked(Box::pin(self.0.into_future()))
    }

    fn same_fn(&self) -> SameFn<V> {
        self.0.same_fn()
    }

    fn describe(&self) -> Option<String> {
        self.0.describe()
    }
}

/// A future whose output is always `Ok`.
struct Oked<F>(std::pin::Pin<Box<F>>);

impl<F: Future> Future for Oked<F> {
    type Output = Result<F::Output, Infallible>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.0.as_mut().poll(cx).map(Ok)
    }
}

/// The `tracing` span of one call, at debug level: the function, and its outcome once
/// known. Disabled, as it is without a subscriber, it costs one check.
macro_rules! call_span {
    ($site:expr) => {
        tracing::debug_span!(
            "memo.call",
            function = $site.name,
            outcome = tracing::field::Empty
        )
    };
}

/// Says how a call went: to its span, and to whoever observes (with, for a hit, how long
/// its result took to compute when it was stored).
fn told(
    site: &'static CallSite,
    key: &KeyHasher,
    span: &tracing::Span,
    how: How,
    began: Option<std::time::Instant>,
) {
    span.record("outcome", how.name());
    if let Some(began) = began {
        let saved = match how {
            How::Hit => scope::current_store().and_then(|store| store.compute_time(&key.finish())),
            _ => None,
        };
        observe::record(site.name, began, how, saved);
    }
}

/// Runs a cached function whose return is an [`Outcome`]: only what it says is stored.
#[doc(hidden)]
#[inline]
pub fn call_ok<S: Stored, R: Outcome<Ok = S::Value>>(
    site: &'static CallSite,
    key: &KeyHasher,
    share: Share<S::Value>,
    compute: impl Body<R, S::Value>,
) -> R {
    call_ok_flagged::<S, R>(site, key, share, compute).into_inner()
}

/// [`call_ok`], saying whether the result came from the cache (`#[cached(flag)]`).
#[doc(hidden)]
#[inline]
pub fn call_ok_flagged<S: Stored, R: Outcome<Ok = S::Value>>(
    site: &'static CallSite,
    key: &KeyHasher,
    share: Share<S::Value>,
    compute: impl Body<R, S::Value>,
) -> Cached<R> {
    let began = observe::watching().then(std::time::Instant::now);
    let span = call_span!(site);
    let entered = span.enter();
    let (result, how) = run_ok::<S, R>(site, key, share, compute);
    drop(entered);
    if began.is_some() || !span.is_disabled() {
        told(site, key, &span, how, began);
    }
    Cached::new(result, matches!(how, How::Hit))
}

/// [`call_ok`]'s work, and how it went.
fn run_ok<S: Stored, R: Outcome<Ok = S::Value>>(
    site: &'static CallSite,
    key: &KeyHasher,
    share: Share<S::Value>,
    compute: impl Body<R, S::Value>,
) -> (R, How) {
    let call = match flow::start::<S>(site, key, share, Tiers::All) {
        Start::Hit(value) => return (R::from_stored(value), How::Hit),
        Start::Uncached => return (compute.run(), How::Uncached),
        Start::Audit(call, found) => {
            let same = compute.same_fn();
            // The fresh result may replace the stored one: with what it was called with.
            let args = compute.describe();
            let result = call.audit::<S, R>(found, same, compute.run_twice(), args);
            return (result, How::Hit);
        }
        Start::Missed(call) => call,
    };
    let mut held = None;
    loop {
        match call.step::<S>(held.take()) {
            Step::Hit(value) => return (R::from_stored(value), How::Hit),
            Step::Reentrant => return (compute.run(), How::Uncached),
            Step::Compute(leader, guards) => {
                // Before the body takes the arguments.
                let args = compute.describe();
                let began = std::time::Instant::now();
                let result = call.leading(|| compute.run());
                let took = call.computed(began);
                call.finish::<S>(leader, result.stored(), args, took);
                drop(guards);
                return (result, How::Miss(took));
            }
            Step::Follow(flight) => {
                if let Some(value) = call.follow::<S>(flight.wait()) {
                    return (R::from_stored(value), How::Hit);
                }
            }
            Step::Elsewhere(leader) => {
                call.await_elsewhere();
                held = Some(leader);
            }
            Step::Remote(leader) => match call.shared::<S>(Ask::Wait) {
                Some(value) => {
                    leader.finish(None);
                    return (R::from_stored(value), How::Hit);
                }
                None => held = Some(leader),
            },
        }
    }
}

/// The `async fn` form of [`call`]: waiting for another caller's computation does not
/// block the executor.
#[doc(hidden)]
pub async fn call_async<S: Stored>(
    site: &'static CallSite,
    key: &KeyHasher,
    share: Share<S::Value>,
    compute: impl AsyncBody<S::Value, S::Value>,
) -> S::Value {
    call_async_flagged::<S>(site, key, share, compute)
        .await
        .into_inner()
}

/// [`call_async`], saying whether the result came from the cache (`#[cached(flag)]`).
#[doc(hidden)]
pub async fn call_async_flagged<S: Stored>(
    site: &'static CallSite,
    key: &KeyHasher,
    share: Share<S::Value>,
    compute: impl AsyncBody<S::Value, S::Value>,
) -> Cached<S::Value> {
    let ok = Infallibly(compute);
    call_ok_async_flagged::<S, Result<S::Value, Infallible>>(site, key, share, ok)
        .await
        .map(|ok| match ok {
            Ok(value) => value,
            Err(never) => match never {},
        })
}

/// The `async fn` form of [`call_ok`]. An audited hit runs the body once: a future cannot
/// be run twice.
#[doc(hidden)]
pub async fn call_ok_async<S: Stored, R: Outcome<Ok = S::Value>>(
    site: &'static CallSite,
    key: &KeyHasher,
    share: Share<S::Value>,
    compute: impl AsyncBody<R, S::Value>,
) -> R {
    call_ok_async_flagged::<S, R>(site, key, share, compute)
        .await
        .into_inner()
}

/// [`call_ok_async`], saying whether the result came from the cache (`#[cached(flag)]`).
#[doc(hidden)]
pub async fn call_ok_async_flagged<S: Stored, R: Outcome<Ok = S::Value>>(
    site: &'static CallSite,
    key: &KeyHasher,
    share: Share<S::Value>,
    compute: impl AsyncBody<R, S::Value>,
) -> Cached<R> {
    use tracing::Instrument as _;
    let began = observe::watching().then(std::time::Instant::now);
    let span = call_span!(site);
    let (result, how) = run_ok_async::<S, R>(site, key, share, compute)
        .instrument(span.clone())
        .await;
    if began.is_some() || !span.is_disabled() {
        told(site, key, &span, how, began);
    }
    Cached::new(result, matches!(how, How::Hit))
}

/// [`call_ok_async`]'s work, and how it went.
async fn run_ok_async<S: Stored, R: Outcome<Ok = S::Value>>(
    site: &'static CallSite,
    key: &KeyHasher,
    share: Share<S::Value>,
    compute: impl AsyncBody<R, S::Value>,
) -> (R, How) {
    let same = compute.same_fn();
    let call = match flow::start::<S>(site, key, share, Tiers::Local) {
        Start::Hit(value) => return (R::from_stored(value), How::Hit),
        Start::Uncached => return (compute.into_future().await, How::Uncached),
        // A future runs once: the audit has one fresh run to judge by.
        Start::Audit(call, found) => {
            let args = compute.describe();
            let fresh = compute.into_future().await;
            return (
                call.audit::<S, R>(found, same, (fresh, None), args),
                How::Hit,
            );
        }
        Start::Missed(call) => call,
    };
    if let Some(value) = call.shared_async::<S>(Ask::Now).await {
        return (R::from_stored(value), How::Hit);
    }
    let mut held = None;
    loop {
        match call.step::<S>(held.take()) {
            Step::Hit(value) => return (R::from_stored(value), How::Hit),
            Step::Reentrant => return (compute.into_future().await, How::Uncached),
            Step::Compute(leader, guards) => {
                // Before the body takes the arguments.
                let args = compute.describe();
                let began = std::time::Instant::now();
                let result = call.leading_async(compute.into_future()).await;
                let took = call.computed(began);
                call.finish::<S>(leader, result.stored(), args, took);
                drop(guards);
                return (result, How::Miss(took));
            }
            Step::Follow(flight) => {
                if let Some(value) = call.follow::<S>(flight.wait_async().await) {
                    return (R::from_stored(value), How::Hit);
                }
            }
            Step::Elsewhere(leader) => {
                call.await_elsewhere_async().await;
                held = Some(leader);
            }
            Step::Remote(leader) => match call.shared_async::<S>(Ask::Wait).await {
                Some(value) => {
                    leader.finish(None);
                    return (R::from_stored(value), How::Hit);
                }
                None => held = Some(leader),
            },
        }
    }
}
