//! The exact path: functions whose arguments are plain values (integers, strings, tuples
//! and vectors of them) keep their results in the in-memory tier by the arguments
//! themselves, asked before the key stream is built. A warm hit hashes and compares the
//! arguments and clones the stored value: no key stream, no decode.
//!
//! Only types whose comparison means an equal cache key may key it: [`ExactKey`], which
//! memo implements for plain values and `#[derive(CacheKey)]` for structs of them, never
//! trusting a user's `Eq` — a `FileContent` (equal paths, other contents) or a struct
//! with a skipped field would make equality and the key disagree. The generated code picks
//! the path by autoref specialisation, calling on `&&&Exact`: a call of plain words (see
//! `words`) resolves to [`ExactWords`], kept as its words; other [`ExactKey`] arguments
//! with a `Clone` result to [`ExactTier`], kept as a shared slot; anything else to
//! [`ExactFallback`], which does nothing.

use std::hash::{BuildHasher, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;

use foldhash::fast::FixedState;

use super::tier::{self, Held, Share, Slot};
use super::{CallSite, Stored};
use crate::scope;

mod keys;
mod words;

pub use keys::{ExactArgs, ExactField, ExactKey};
pub use words::{KeyWord, ValueWords, WordArgs};

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

impl<A, R, S> ExactFallback<R> for Exact<'_, A, R, S> {
    type Began = Skip;
    fn exact_lookup(&self, _site: &'static CallSite) -> Result<R, Skip> {
        Err(Skip)
    }
    fn exact_share(&self, probed: Share<R>) -> Share<R> {
        probed
    }
}

/// Whether a call of `site` may be answered, and kept, by the arguments themselves.
/// Observed calls take the keyed path, which reports them — to `observe`, or as a debug
/// span to a subscriber that listens at that level.
#[inline]
fn applies(site: &CallSite) -> bool {
    !(site.ttl_secs.is_some()
        || tier::budget() == 0
        || super::audit::rate() > 0.0
        || crate::observe::watching()
        || tracing::level_enabled!(tracing::Level::DEBUG)
        || site.bypassed())
}

/// Runs `look` in the thread's state — its one visit of a warm hit — with the store in
/// scope and whether the call refreshes; `None` when no store is in scope or its results
/// are not kept in memory here (a forked child's inherited tier is its parent's).
#[inline]
fn in_scope<T>(look: impl FnOnce(&crate::Store, bool) -> T) -> Option<T> {
    scope::with_thread(|thread| {
        let refresh = thread.mode == scope::Mode::Refresh;
        let store = thread.store()?;
        if store.forked() || !store.keeps_hot() {
            return None;
        }
        Some(look(store, refresh))
    })
}

/// Hashes the arguments with the same seed every time: the hash keys the table.
fn hash_of(args: &impl ExactArgs) -> u64 {
    let mut state = FixedState::with_seed(0x6578616374).build_hasher();
    args.hash_args(&mut state);
    state.finish()
}

impl<A, R, S> ExactTier<R> for &Exact<'_, A, R, S>
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
        if !applies(site) {
            return Err(nothing());
        }
        let hash = hash_of(self.0);
        let slot = site.state.slot();
        let looked = in_scope(|store, refresh| {
            if !refresh && let Some(held) = tier::get(slot, store, hash) {
                let ours = held
                    .downcast_ref::<Slot<A::Owned, R>>()
                    .is_some_and(|found| self.0.matches(&found.key));
                if ours {
                    store.count_hit();
                    return Ok(held);
                }
                // Another call's arguments with the same hash: dropped outside.
                return Err((Some(held), (store.id(), store.epoch())));
            }
            Err((None, (store.id(), store.epoch())))
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

/// A call of plain words begun: its arguments' words and its store, to keep the result
/// under once it is known; nothing when no store is in scope or the tier is off.
pub struct KeptWords<S> {
    call: Option<([u64; 2], Began, tier::Shape)>,
    stored: PhantomData<fn() -> S>,
}

impl<S: Stored<Value: ValueWords>> KeptWords<S> {
    /// Keeps `value`, the call's result, as its words.
    pub fn keep(self, site: &'static CallSite, value: &S::Value) {
        let Some((args, began, shape)) = self.call else {
            return;
        };
        tier::put_words(&site.state.words, shape, began, args, value.to_words());
    }
}

/// The tier, for calls of plain words (see `words`): kept and answered as words.
pub trait ExactWords<R> {
    /// What keeping the call's result will need, when there is no kept result.
    type Began;
    /// The result kept for these arguments in the store in scope; or what keeping the
    /// result the call is about to compute will need.
    fn exact_lookup(&self, site: &'static CallSite) -> Result<R, Self::Began>;
    /// Not at all: this path keeps them.
    fn exact_share(&self, probed: Share<R>) -> Share<R>;
}

impl<A, R, S> ExactWords<R> for &&Exact<'_, A, R, S>
where
    A: WordArgs,
    R: ValueWords,
    S: Stored<Value = R>,
{
    type Began = KeptWords<S>;

    #[inline]
    fn exact_lookup(&self, site: &'static CallSite) -> Result<R, KeptWords<S>> {
        let nothing = || KeptWords {
            call: None,
            stored: PhantomData,
        };
        if !applies(site) {
            return Err(nothing());
        }
        let args = self.0.key_words();
        let looked = in_scope(|store, refresh| {
            if !refresh && let Some(words) = tier::get_words(&site.state.words, store, args) {
                store.count_hit();
                return Ok(words);
            }
            Err((store.id(), store.epoch()))
        });
        match looked {
            Some(Ok(words)) => Ok(R::from_words(words)),
            Some(Err(began)) => Err(KeptWords {
                call: Some((args, began, tier::Shape::new(A::WORDS, R::WORDS))),
                stored: PhantomData,
            }),
            None => Err(nothing()),
        }
    }

    fn exact_share(&self, _probed: Share<R>) -> Share<R> {
        Share::OFF
    }
}
