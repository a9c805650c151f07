//! The exact path: functions whose arguments are plain values (integers, strings, tuples
//! and vectors of them) keep their results in the in-memory tier by the arguments
//! themselves, asked before the key stream is built. A warm hit hashes and compares the
//! arguments and clones the stored value: no key stream, no decode.
//!
//! Only types whose comparison means an equal cache key may key it: [`ExactKey`], which
//! memo implements for plain values and `#[derive(CacheKey)]` for structs of them, never
//! trusting a user's `Eq` — a `FileContent` (equal paths, other contents) or a struct
//! with a skipped field would make equality and the key disagree. The generated code picks
//! this tier by autoref specialisation: when the arguments are not all [`ExactKey`], or the
//! result is not `Clone`, the calls resolve to [`ExactFallback`], which does nothing.

use std::hash::{BuildHasher, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;

use foldhash::fast::FixedState;

use super::tier::{self, Held, Share, Slot};
use super::{CallSite, Stored};
use crate::scope;

mod keys;

pub use keys::{ExactArgs, ExactField, ExactKey};

/// The arguments, the result type and how it is stored, of one call, for the tier to work
/// on.
pub struct Exact<'a, A, R, S>(&'a A, PhantomData<fn() -> (R, S)>);

impl<'a, A, R, S> Exact<'a, A, R, S> {
    /// Wraps the borrowed arguments of a call returning `R`, stored as `S`.
    pub fn new(args: &'a A) -> Exact<'a, A, R, S> {
        Exact(args, PhantomData)
    }
}

/// The store and its epoch a call began with, for what it computes to be kept under.
type Began = (u64, u64);

/// A call the tier applies to, begun: its arguments (owned, since the function's body may
/// consume them) and its store, to keep the result under once it is known; nothing when
/// no store is in scope or the tier is off.
pub struct Kept<K, S> {
    call: Option<(K, u64, Began)>,
    stored: PhantomData<fn() -> S>,
}

impl<K: Send + Sync + 'static, S: Stored<Value: Clone + Send + Sync + 'static>> Kept<K, S> {
    /// Keeps `value`, the call's result, for the next call with these arguments, within
    /// the budget.
    pub fn keep(self, site: &'static CallSite, value: &S::Value) {
        let Some((args, hash, began)) = self.call else {
            return;
        };
        // Measured by its encoding, which stops at what the tier would take.
        let Some(size) = super::stored::size_within::<S>(value, tier::budget() / 8) else {
            return;
        };
        let held: Held = Arc::new(Slot {
            key: args,
            value: value.clone(),
        });
        let cost = size + size_of::<K>() + size_of::<S::Value>();
        tier::put(site.state.slot(), began, hash, held, cost, None);
    }
}

/// A call the tier does not apply to.
pub struct Skip;

impl Skip {
    /// Does nothing.
    pub fn keep<R>(self, _site: &'static CallSite, _value: &R) {}
}

/// The tier, for calls it applies to.
pub trait ExactTier<R> {
    /// What keeping the call's result will need, when there is no kept result.
    type Began;
    /// The result kept for these arguments in the store in scope; or, in one visit to the
    /// thread's state, what keeping the result the call is about to compute will need.
    fn exact_lookup(&self, site: &'static CallSite) -> Result<R, Self::Began>;
    /// How the call path holds the results by their key stream: not at all, since this
    /// path keeps them.
    fn exact_share(&self, probed: Share<R>) -> Share<R>;
}

/// What the generated code calls when the tier does not apply: nothing.
pub trait ExactFallback<R> {
    /// [`Skip`].
    type Began;
    /// Always [`Skip`].
    fn exact_lookup(&self, site: &'static CallSite) -> Result<R, Self::Began>;
    /// `probed`: the call path holds the results.
    fn exact_share(&self, probed: Share<R>) -> Share<R>;
}

impl<A, R, S> ExactFallback<R> for &Exact<'_, A, R, S> {
    type Began = Skip;
    fn exact_lookup(&self, _site: &'static CallSite) -> Result<R, Skip> {
        Err(Skip)
    }
    fn exact_share(&self, probed: Share<R>) -> Share<R> {
        probed
    }
}

/// Hashes the arguments with the same seed every time: the hash keys the table.
fn hash_of(args: &impl ExactArgs) -> u64 {
    let mut state = FixedState::with_seed(0x6578616374).build_hasher();
    args.hash_args(&mut state);
    state.finish()
}

impl<A, R, S> ExactTier<R> for Exact<'_, A, R, S>
where
    A: ExactArgs<Owned: Send + Sync>,
    R: Clone + Send + Sync + 'static,
    S: Stored<Value = R>,
{
    type Began = Kept<A::Owned, S>;

    fn exact_lookup(&self, site: &'static CallSite) -> Result<R, Kept<A::Owned, S>> {
        let nothing = || Kept {
            call: None,
            stored: PhantomData,
        };
        // Observed calls take the keyed path, which reports them — to `observe`, or as a
        // debug span to a subscriber that listens at that level.
        if site.ttl_secs.is_some()
            || tier::budget() == 0
            || super::audit::rate() > 0.0
            || crate::observe::watching()
            || tracing::level_enabled!(tracing::Level::DEBUG)
            || site.bypassed()
        {
            return Err(nothing());
        }
        let hash = hash_of(self.0);
        let slot = site.state.slot();
        let looked = scope::with_thread(|thread| {
            let refresh = thread.mode == scope::Mode::Refresh;
            let store = thread.store()?;
            // A forked child's inherited tier is its parent's (see `warm`).
            if store.forked() || !store.keeps_hot() {
                return None;
            }
            if !refresh && let Some(held) = tier::get(slot, store, hash) {
                let ours = held
                    .downcast_ref::<Slot<A::Owned, R>>()
                    .is_some_and(|found| self.0.matches(&found.key));
                if ours {
                    store.count_hit();
                    return Some(Ok(held));
                }
                // Another call's arguments with the same hash: dropped outside.
                return Some(Err((Some(held), (store.id(), store.epoch()))));
            }
            Some(Err((None, (store.id(), store.epoch()))))
        });
        match looked {
            // Cloned outside the thread's state: a `Clone` impl may call cached functions.
            Some(Ok(held)) => match held.downcast_ref::<Slot<A::Owned, R>>() {
                Some(found) => Ok(R::clone(&found.value)),
                None => Err(nothing()),
            },
            Some(Err((_other, began))) => Err(Kept {
                call: Some((self.0.to_owned_args(), hash, began)),
                stored: PhantomData,
            }),
            None => Err(nothing()),
        }
    }

    fn exact_share(&self, _probed: Share<R>) -> Share<R> {
        Share::OFF
    }
}
