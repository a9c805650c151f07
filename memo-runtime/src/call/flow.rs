//! One call's way through the tiers — memory, the store, single-flight in this process,
//! the lead among the processes sharing the store, then computing and storing — as steps
//! that the sync and the async call paths both take. They differ only in how they run
//! the body and how they wait; everything they decide is decided here.

use std::sync::Arc;

use super::codec::{Encoded, Refused};
use super::flight::{self, Joined, Leader, Shared};
use super::{CallSite, Share, Stored, audit, offload, stored, tier};
use crate::error::{Error, Result};
use crate::store::{Ask, Bytes, Hit, Lead, Lease, Payload, SharedLead, SharedLock};
use crate::{Digest, KeyHasher, Store, scope, warn};

/// How a call starts: answered from memory or the store, run uncached, or missed.
pub(super) enum Start<'k, V> {
    /// The result, found.
    Hit(V),
    /// Caching is off, or no key can stand for the arguments: run the body, store nothing.
    Uncached,
    /// A stored result to be audited against a fresh run (`MEMO_AUDIT`).
    Audit(Call<'k, V>, audit::Found<V>),
    /// Nothing stored: go on with [`Call::step`].
    Missed(Call<'k, V>),
}

/// What a call that missed does next.
pub(super) enum Step<V> {
    /// Another caller stored the result meanwhile.
    Hit(V),
    /// Compute as the leader ([`Call::leading`]), then [`Call::finish`]; drop the guards
    /// after.
    Compute(Leader, Guards),
    /// Wait for the caller in this process that computes, then [`Call::follow`].
    Follow(Arc<flight::Flight>),
    /// Another process computes: wait ([`Store::await_lead`]), then step again with the
    /// leader kept.
    Elsewhere(Leader),
    /// Another machine computes: wait for its value ([`Call::shared`]); if none
    /// comes, step again with the leader kept.
    Remote(Leader),
    /// A call on this key from inside its own computation: run the body uncached.
    Reentrant,
}

/// What a computing leader holds until its result is stored: its lead among the
/// processes sharing the store, and among the machines sharing a tier.
pub(super) struct Guards {
    _lease: Option<Lease>,
    _lock: Option<SharedLock>,
}

/// Looks a call up in memory, then in its store — and for `Tiers::All` in the shared
/// tier behind it (an async call asks that one itself, off its executor).
pub(super) fn start<'k, S: Stored>(
    site: &'static CallSite,
    key: &'k KeyHasher,
    share: Share<S::Value>,
    tiers: Tiers,
) -> Start<'k, S::Value> {
    if site.bypassed() {
        return Start::Uncached;
    }
    let audited = audit::sampled();
    if !audited && let Some(value) = warm::<S>(site, key, &share) {
        return Start::Hit(value);
    }
    let Some(call) = Call::begin(site, key, share) else {
        return Start::Uncached;
    };
    match call.lookup_found::<S>(tiers) {
        Some(found) if audited => Start::Audit(call, found),
        Some(found) => Start::Hit(found.value),
        None => Start::Missed(call),
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
        let store = thread.store()?;
        // A forked child's inherited tier is its parent's: it asks its own store.
        if store.forked() {
            return None;
        }
        let held = tier::get(slot, store, hash)?;
        if !share.matches(&held, &stream) {
            // Another call's arguments with the same hash: dropped outside.
            return Some(Err(held));
        }
        store.count_hit();
        Some(Ok(held))
    })?
    .ok()?;
    // Cloned or decoded outside the thread's state: a `Clone` or `Deserialize` impl may
    // call cached functions.
    share.take::<S>(&held)
}

/// Where a lookup looks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Tiers {
    /// The local store, then the shared tier.
    All,
    /// The local store alone.
    Local,
}

/// One call that caching applies to: its store, key and mode.
pub(super) struct Call<'k, V> {
    /// Flights finished before this call first looked its key up.
    finished_before: u64,
    pub(super) site: &'static CallSite,
    share: Share<V>,
    pub(super) store: Store,
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
            finished_before: flight::finished(),
            site,
            share,
            digest: key.finish(),
            store,
            key,
            refresh: scope::refreshing(),
        })
    }

    /// The crate the function is in: the shared tier's namespace, unless one is set.
    fn krate(&self) -> &'static str {
        self.site
            .module
            .split("::")
            .next()
            .unwrap_or(self.site.module)
    }

    /// The call's key among the flights of this process.
    fn flight_key(&self) -> (u64, Digest) {
        (self.store.id(), self.digest)
    }

    /// What to do next, having missed: `held` is the lead of this process's flight kept
    /// while another process computed, if it did.
    pub(super) fn step<S: Stored<Value = V>>(&self, held: Option<Leader>) -> Step<V> {
        let leader = match held {
            // The other process is done: what it stored is there, or it gave up.
            Some(leader) => match self.lookup::<S>() {
                Some(value) => {
                    leader.finish(None);
                    return Step::Hit(value);
                }
                None => leader,
            },
            None => match flight::join(self.flight_key()) {
                Joined::Reentrant => return Step::Reentrant,
                Joined::Follower(flight) => return Step::Follow(flight),
                Joined::Leader(leader) => {
                    // Another caller may have stored the result between the first
                    // lookup and taking the lead.
                    if flight::finished() != self.finished_before
                        && let Some(value) = self.lookup::<S>()
                    {
                        leader.finish(None);
                        return Step::Hit(value);
                    }
                    leader
                }
            },
        };
        // Across the processes sharing the store, its holder says who computes.
        let lease = match self.store.try_lead(&self.digest) {
            Lead::Alone => None,
            Lead::Leads(lease) => Some(lease),
            Lead::Busy => return Step::Elsewhere(leader),
        };
        // Across the machines sharing a tier, its lock does.
        let lock = if self.asks_shared(false) {
            match self.store.lead_shared(self.krate(), &self.digest) {
                SharedLead::Alone => None,
                SharedLead::Leads(lock) => Some(lock),
                SharedLead::Busy => return Step::Remote(leader),
            }
        } else {
            None
        };
        Step::Compute(
            leader,
            Guards {
                _lease: lease,
                _lock: lock,
            },
        )
    }

    /// Runs `compute` as the leader of the call's flight: a call on the same key from
    /// inside it is [`Step::Reentrant`].
    pub(super) fn leading<T>(&self, compute: impl FnOnce() -> T) -> T {
        flight::leading(self.flight_key(), compute)
    }

    /// Counts a computation that began at `began` into the function's average, which
    /// says whether the shared tier is worth asking for it; how long it took.
    pub(super) fn computed(&self, began: std::time::Instant) -> std::time::Duration {
        let took = began.elapsed();
        self.site.state.computed(took);
        took
    }

    /// Whether the store has a shared tier worth asking for this function (see
    /// [`Store::shares`]); `count`: a lookup skipped is counted.
    fn asks_shared(&self, count: bool) -> bool {
        self.store.shares(self.site.state.compute_ns(), count)
    }

    /// An async body, run as the leader of the call's flight.
    pub(super) fn leading_async<F: Future>(&self, body: F) -> flight::Leading<F> {
        flight::Leading::new(self.flight_key(), body)
    }

    /// Waits, blocking, for the computation another process leads.
    pub(super) fn await_elsewhere(&self) {
        self.store.await_lead(&self.digest);
    }

    /// Waits for the computation another process leads on a thread of its own, so an
    /// executor is never blocked.
    pub(super) async fn await_elsewhere_async(&self) {
        let (store, digest) = (self.store.clone(), self.digest);
        super::offload::run(move || store.await_lead(&digest)).await;
    }

    /// The shared tier's value (see [`Store::shared_value`]), decoded, kept and counted.
    pub(super) fn shared<S: Stored<Value = V>>(&self, ask: Ask) -> Option<S::Value> {
        let entry = self.site.new_entry();
        let hit =
            self.store
                .shared_value(ask, &entry, self.krate(), &self.digest, self.key.inputs())?;
        self.taken::<S>(&hit).map(|found| found.value)
    }

    /// [`Call::shared`] on a thread of its own, for an async caller: its executor never
    /// waits on the network.
    pub(super) async fn shared_async<S: Stored<Value = V>>(&self, ask: Ask) -> Option<S::Value> {
        if self.refresh || !self.asks_shared(true) {
            return None;
        }
        let (store, entry, krate) = (self.store.clone(), self.site.new_entry(), self.krate());
        let (digest, inputs) = (self.digest, self.key.inputs().to_vec());
        let hit = offload::run(move || store.shared_value(ask, &entry, krate, &digest, &inputs))
            .await
            .flatten()?;
        self.taken::<S>(&hit).map(|found| found.value)
    }

    /// The value stored locally, counted as a hit; never in refresh mode. A look again,
    /// after the first: what another caller stored meanwhile is in the local store.
    fn lookup<S: Stored<Value = V>>(&self) -> Option<S::Value> {
        self.lookup_found::<S>(Tiers::Local)
            .map(|found| found.value)
    }

    /// The stored value with the hash of the bytes it was read from (an audit compares
    /// them), kept in the memory tier and counted as a hit; never in refresh mode.
    fn lookup_found<S: Stored<Value = V>>(&self, tiers: Tiers) -> Option<audit::Found<S::Value>> {
        if self.refresh {
            return None;
        }
        let hit = match contained(|| self.store.lookup(&self.digest)) {
            Ok(Some(hit)) => hit,
            // Another machine may have computed it: the shared tier, if there is one.
            Ok(None) if tiers == Tiers::All && self.asks_shared(true) => {
                let entry = self.site.new_entry();
                self.store.shared_value(
                    Ask::Now,
                    &entry,
                    self.krate(),
                    &self.digest,
                    self.key.inputs(),
                )?
            }
            Ok(None) => return None,
            Err(error) => {
                degraded(&self.store, &error);
                return None;
            }
        };
        self.taken::<S>(&hit)
    }

    /// A hit's value, decoded, kept in the memory tier and counted.
    fn taken<S: Stored<Value = V>>(&self, hit: &Hit) -> Option<audit::Found<S::Value>> {
        let value = stored::decode_payload::<S>(&self.store, &hit.payload, hit.output)?;
        // A result kept as a file is too large for the memory tier.
        if let Payload::Bytes(bytes) = &hit.payload {
            self.keep(&value, hit.output, bytes, hit.expires_ms);
        }
        self.store.count_hit();
        Some(audit::Found {
            value,
            output: hit.output,
        })
    }

    /// Stores the leader's result and hands it to the callers waiting in this process.
    pub(super) fn finish<S: Stored<Value = V>>(
        &self,
        leader: Leader,
        value: Option<&S::Value>,
        args: Option<String>,
        took: std::time::Duration,
    ) {
        self.store.count_miss();
        let shared = value.and_then(|value| self.save::<S>(value, args.as_deref(), Some(took)));
        leader.finish(shared);
    }

    /// A follower's share of the leader's result; `None` if it must step again.
    pub(super) fn follow<S: Stored<Value = V>>(&self, shared: Option<Shared>) -> Option<S::Value> {
        let (output, payload) = shared?;
        let value = stored::decode_payload::<S>(&self.store, &payload, output)?;
        self.store.count_hit();
        Some(value)
    }

    /// Stores `value`, the result of the call, with `args`, its arguments' readable form,
    /// and how long it took to compute, if known.
    pub(super) fn save<S: Stored<Value = V>>(
        &self,
        value: &S::Value,
        args: Option<&str>,
        took: Option<std::time::Duration>,
    ) -> Option<Shared> {
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
        let mut entry = site.new_entry();
        entry.args = args;
        entry.call = self.key.call_identity();
        entry.compute_ns = took.map(|took| u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
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
            // The memory tier may hold the value this call replaced: start afresh.
            self.store.forget_hot();
        }
        if let Payload::Bytes(bytes) = &payload {
            if self.asks_shared(false) {
                self.store
                    .share(&entry, self.krate(), &self.digest, self.key.inputs(), bytes);
            }
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

pub(super) fn degraded(store: &Store, error: &Error) {
    if store.take_broken() {
        // The process that served this store has gone: the next call opens it again,
        // holding it here or reaching whoever holds it now. That is a takeover, not a
        // problem.
        scope::drop_default(store);
        warn::debug(|| format!("the store's holder is gone ({error}); opening it again"));
        return;
    }
    store.report_problem(|| {
        format!("caching is degraded, results are computed but may not be stored: {error}")
    });
}
