//! The call path that `#[cached]` expands into: key, look up, or compute once and store.

mod audit;
mod body;
pub(crate) mod codec;
pub(crate) mod exact;
pub(crate) mod flight;
mod local;
mod sink;
mod site;
mod stored;
mod tier;

use std::convert::Infallible;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::store::{Arbiter, Bytes, Payload};
use crate::{Digest, KeyHasher, Store, scope, warn};
use codec::{Encoded, Refused};
use flight::{Joined, Leader, Shared};

pub use body::{
    ArgsCloned, ArgsMoved, ArgsProbe, AsyncBody, Body, Cloned, Later, Moved, Once, SameByBytes,
    SameByEq, SameFn, SameProbe, Twice,
};
pub(crate) use local::Local;
pub(crate) use scope::flush_hits;
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
    match call_ok::<S, Result<S::Value, Infallible>>(site, key, share, Infallibly(compute)) {
        Ok(value) => value,
        Err(never) => match never {},
    }
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
    let audited = audit::sampled();
    if !audited && let Some(value) = warm::<S>(site, key, &share) {
        return R::from_stored(value);
    }
    let Some(call) = Call::begin(site, key, share) else {
        return compute.run();
    };
    if audited {
        if let Some(found) = call.lookup_found::<S>() {
            let same = compute.same_fn();
            return call.audit::<S, R>(found, same, compute.run_twice());
        }
    } else if let Some(value) = call.lookup::<S>() {
        return R::from_stored(value);
    }
    loop {
        match call.store.inner.flights.join(call.digest) {
            Joined::Reentrant => return compute.run(),
            Joined::Leader(leader) => {
                if let Some(value) = call.recheck::<S>(&leader) {
                    leader.finish(None);
                    return R::from_stored(value);
                }
                // Across the processes sharing the store, its holder says who computes.
                let lease = loop {
                    match call.store.arbitrate(&call.digest) {
                        Arbiter::Alone => break None,
                        Arbiter::Leads(lease) => break Some(lease),
                        Arbiter::Waited => {
                            if let Some(value) = call.lookup::<S>() {
                                leader.finish(None);
                                return R::from_stored(value);
                            }
                        }
                    }
                };
                let flights = &call.store.inner.flights;
                let result = flight::leading(flights, call.digest, || compute.run());
                call.finish::<S>(leader, result.stored());
                drop(lease);
                return result;
            }
            Joined::Follower(flight) => {
                if let Some(value) = call.follow::<S>(flight.wait()) {
                    return R::from_stored(value);
                }
            }
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
    let same = compute.same_fn();
    let future = compute.into_future();
    let ok = Later::new(async { Ok::<_, Infallible>(future.await) }, same);
    match call_ok_async::<S, Result<S::Value, Infallible>>(site, key, share, ok).await {
        Ok(value) => value,
        Err(never) => match never {},
    }
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
    let audited = audit::sampled();
    if !audited && let Some(value) = warm::<S>(site, key, &share) {
        return R::from_stored(value);
    }
    let same = compute.same_fn();
    let compute = compute.into_future();
    let Some(call) = Call::begin(site, key, share) else {
        return compute.await;
    };
    if audited {
        if let Some(found) = call.lookup_found::<S>() {
            let fresh = compute.await;
            return call.audit::<S, R>(found, same, (fresh, None));
        }
    } else if let Some(value) = call.lookup::<S>() {
        return R::from_stored(value);
    }
    loop {
        match call.store.inner.flights.join(call.digest) {
            Joined::Reentrant => return compute.await,
            Joined::Leader(leader) => {
                if let Some(value) = call.recheck::<S>(&leader) {
                    leader.finish(None);
                    return R::from_stored(value);
                }
                let flights = &call.store.inner.flights;
                let result = flight::Leading::new(flights, call.digest, compute).await;
                call.finish::<S>(leader, result.stored());
                return result;
            }
            Joined::Follower(flight) => {
                if let Some(value) = call.follow::<S>(flight.wait_async().await) {
                    return R::from_stored(value);
                }
            }
        }
    }
}

/// A warm hit from the in-memory tier: the fast path, tried before anything else, with
/// one visit to the thread's state.
#[inline]
fn warm<S: Stored>(
    site: &'static CallSite,
    key: &KeyHasher,
    share: &Share<S::Value>,
) -> Option<S::Value> {
    // The tier holds only keys that stand for their arguments; it may not answer for one
    // that does not, however its stream reads.
    if !share.is_on() || key.uncacheable().is_some() || tier::budget() == 0 {
        return None;
    }
    let stream = tier::stream_of(key);
    let hash = tier::stream_hash(&stream);
    let slot = site.state.slot();
    let held = scope::with_thread(|thread| {
        if thread.mode == scope::Mode::Refresh {
            return None;
        }
        let (store, local) = thread.split();
        let store = store?;
        // A forked child's inherited tier is its parent's: it asks its own store.
        if store.inner.forked() {
            return None;
        }
        let held = tier::get(slot, store, hash)?;
        if !share.matches(&held, &stream) {
            // Another call's arguments with the same hash: dropped outside.
            return Some(Err(held));
        }
        local.count_hit(store);
        Some(Ok(held))
    })?
    .ok()?;
    // Cloned or decoded outside the thread's state: a `Clone` or `Deserialize` impl may
    // call cached functions.
    share.take::<S>(&held)
}

/// One call that caching applies to: its store, key and mode.
struct Call<'k, V> {
    /// Flights finished on the store before this call first looked it up.
    finished_before: u64,
    site: &'static CallSite,
    share: Share<V>,
    store: Store,
    key: &'k KeyHasher,
    digest: Digest,
    refresh: bool,
}

impl<'k, V> Call<'k, V> {
    /// `None` when the call must run uncached: caching is off, or no key can stand for
    /// the arguments.
    fn begin(site: &'static CallSite, key: &'k KeyHasher, share: Share<V>) -> Option<Call<'k, V>> {
        // In a forked child, the parent's store is opened anew.
        let store = scope::current_store()?.in_this_process()?;
        if let Some(reason) = key.uncacheable() {
            warn::once(&format!("uncacheable {}", site.name), || {
                format!("`{}` runs uncached: {reason}", site.name)
            });
            return None;
        }
        if let Err(error) = contained(|| site.record_in(&store)) {
            degraded(&store, &error);
        }
        Some(Call {
            finished_before: store.inner.flights.finished(),
            site,
            share,
            digest: key.finish(),
            store,
            key,
            refresh: scope::refreshing(),
        })
    }

    /// The stored value, counted as a hit; never in refresh mode.
    fn lookup<S: Stored<Value = V>>(&self) -> Option<S::Value> {
        self.lookup_found::<S>().map(|found| found.value)
    }

    /// The stored value with the bytes it was read from (an audit compares them), kept in
    /// the memory tiers and counted as a hit; never in refresh mode.
    fn lookup_found<S: Stored<Value = V>>(&self) -> Option<audit::Found<S::Value>> {
        if self.refresh {
            return None;
        }
        let found = match contained(|| self.store.lookup(&self.digest)) {
            Ok(Some(hit)) => {
                let value = stored::decode_payload::<S>(&self.store, &hit.payload, hit.output)?;
                // A result kept as a file is too large for the memory tier.
                if let Payload::Bytes(bytes) = &hit.payload {
                    self.keep(&value, hit.output, bytes, hit.expires_ms);
                }
                audit::Found {
                    value,
                    output: hit.output,
                }
            }
            Ok(None) => return None,
            Err(error) => {
                degraded(&self.store, &error);
                return None;
            }
        };
        self.store.count_hit();
        Some(found)
    }

    /// As the new leader, looks again: another caller may have stored the result between
    /// the first lookup and taking the lead.
    fn recheck<S: Stored<Value = V>>(&self, _: &Leader) -> Option<S::Value> {
        if self.store.inner.flights.finished() == self.finished_before {
            return None;
        }
        self.lookup::<S>()
    }

    /// Stores the leader's result and hands it to the waiting callers.
    fn finish<S: Stored<Value = V>>(&self, leader: Leader, value: Option<&S::Value>) {
        self.store.count_miss();
        let shared = value.and_then(|value| self.save::<S>(value));
        leader.finish(shared);
    }

    /// A follower's share of the leader's result; `None` if it must compute.
    fn follow<S: Stored<Value = V>>(&self, shared: Option<Shared>) -> Option<S::Value> {
        let (output, payload) = shared?;
        let value = stored::decode_payload::<S>(&self.store, &payload, output)?;
        self.store.count_hit();
        Some(value)
    }

    fn save<S: Stored<Value = V>>(&self, value: &S::Value) -> Option<Shared> {
        let site = self.site;
        // A result too large for memory is encoded into a file of the store as it goes.
        let stage = || self.store.stage();
        // A `Serialize` that fails or panics costs the caching, never the value.
        let encoded = crate::contain::quietly(|| stored::encode::<S>(value, site, Some(&stage)))
            .unwrap_or_else(|panic| {
                Err(Refused::Unstorable(format!(
                    "its `Serialize` panicked: {panic}"
                )))
            });
        let (output, bytes) = match encoded {
            Ok(Encoded::Bytes(bytes)) => (Digest::of_bytes(&bytes), Ok(bytes)),
            Ok(Encoded::File(output, file)) => (output, Err(file)),
            Err(Refused::Unstorable(problem)) => {
                warn::once(&format!("encode {}", site.name), || {
                    format!("`{}` runs uncached: {problem}", site.name)
                });
                return None;
            }
            Err(Refused::Io(source)) => {
                let path = self.store.dir().join(crate::store::FILES_DIR);
                degraded(&self.store, &Error::Io { path, source });
                return None;
            }
        };
        let held = match &bytes {
            Ok(bytes) => Bytes::Held(bytes),
            Err(file) => Bytes::File(file.size),
        };
        let inputs = self.key.inputs();
        let entry = site.new_entry();
        let stored = contained(|| {
            self.store
                .insert(&entry, &self.digest, output, held, inputs)
        });
        let payload = match bytes {
            Ok(bytes) => Payload::Bytes(Arc::from(bytes)),
            Err(file) => Payload::File(file),
        };
        if let Err(error) = stored {
            degraded(&self.store, &error);
            return Some((output, payload));
        }
        if self.refresh {
            // Other threads' tiers may hold the value this call replaced: start afresh.
            self.store.forget_hot();
        }
        if let Payload::Bytes(bytes) = &payload {
            self.keep(value, output, bytes, entry.expires_ms);
        }
        Some((output, payload))
    }

    /// Keeps a result in the in-memory tier, by its key stream.
    fn keep(&self, value: &V, output: Digest, bytes: &Arc<[u8]>, expires_ms: Option<u64>) {
        if !self.share.is_on() || !self.store.keeps_hot() || tier::budget() == 0 {
            return;
        }
        let stream = tier::stream_of(self.key);
        let Some((held, cost)) = self.share.hold(&stream, value, output, bytes) else {
            return;
        };
        let began = (self.store.id(), self.store.epoch());
        let hash = tier::stream_hash(&stream);
        tier::put(self.site.state.slot(), began, hash, held, cost, expires_ms);
    }
}

/// Runs a store operation, turning a panic inside the storage engine into an error.
fn contained<T>(op: impl FnOnce() -> Result<T>) -> Result<T> {
    crate::contain::quietly(op).unwrap_or_else(|panic| Err(Error::Panicked(panic)))
}

fn degraded(store: &Store, error: &Error) {
    if store.take_broken() {
        // The process that served this store has gone: the next call opens it again,
        // holding it here or reaching whoever holds it now. That is a takeover, not a
        // problem.
        scope::drop_default(store);
        warn::debug(|| format!("the store's holder is gone ({error}); opening it again"));
        return;
    }
    store.inner.report_problem(|| {
        format!("caching is degraded, results are computed but may not be stored: {error}")
    });
}
