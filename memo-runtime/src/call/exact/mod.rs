//! The exact tier: a thread's typed table of results for functions whose arguments are
//! plain values (integers, strings, tuples and vectors of them), in front of the stream
//! tiers. A warm hit there compares the arguments themselves and clones the stored value:
//! no key stream, no decode.
//!
//! Only types whose comparison means an equal cache key may key it: [`ExactKey`], which
//! memo implements for plain values and `#[derive(CacheKey)]` for structs of them, never
//! trusting a user's `Eq` — a `FileContent` (equal paths, other contents) or a struct
//! with a skipped field would make equality and the key disagree. The generated code picks
//! this tier by autoref specialisation: when the arguments are not all [`ExactKey`], or the
//! result is not `Clone`, the calls resolve to [`ExactFallback`], which does nothing.

use std::any::Any;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::marker::PhantomData;
use std::rc::Rc;

use foldhash::fast::FixedState;

use super::{CallSite, Stored};
use crate::{Store, scope};

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

/// Results larger than this, encoded, are left to the other tiers, which bound memory by
/// bytes: the exact tier holds live values whose size it cannot see.
const MAX_BYTES: usize = 16 << 10;

/// The store and its epoch a call began with, for what it computes to be kept under.
#[derive(Clone, Copy)]
struct Began {
    store: u64,
    epoch: u64,
}

/// A call the tier applies to, begun: its arguments (owned, since the function's body may
/// consume them) and its store, to keep the result under once it is known; nothing when
/// no store is in scope or the tier is off.
pub struct Kept<K, S> {
    call: Option<(K, u64, Began)>,
    stored: PhantomData<fn() -> S>,
}

impl<K: 'static, S: Stored<Value: Clone + 'static>> Kept<K, S> {
    /// Keeps `value`, the call's result, for the next call with these arguments, if it is
    /// small.
    pub fn keep(self, site: &'static CallSite, value: &S::Value) {
        let Some((args, hash, began)) = self.call else {
            return;
        };
        if !super::stored::fits::<S>(value, MAX_BYTES) {
            return;
        }
        let entry = ExactEntry {
            args,
            value: Rc::new(value.clone()),
            began,
        };
        // Whatever the table lets go of is dropped out here, after the thread's state:
        // dropping a result may run user code.
        let _released = scope::with_thread(|thread| thread.local.exact.put(site, hash, entry));
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
}

/// What the generated code calls when the tier does not apply: nothing.
pub trait ExactFallback<R> {
    /// [`Skip`].
    type Began;
    /// Always [`Skip`].
    fn exact_lookup(&self, site: &'static CallSite) -> Result<R, Self::Began>;
}

impl<A, R, S> ExactFallback<R> for &Exact<'_, A, R, S> {
    type Began = Skip;
    fn exact_lookup(&self, _site: &'static CallSite) -> Result<R, Skip> {
        Err(Skip)
    }
}

/// Hashes the arguments with the same seed every time: the hash keys the table.
fn hash_of(args: &impl ExactArgs) -> u64 {
    let mut state = FixedState::with_seed(0x6578616374).build_hasher();
    args.hash_args(&mut state);
    state.finish()
}

impl<A: ExactArgs, R: Clone + 'static, S: Stored<Value = R>> ExactTier<R> for Exact<'_, A, R, S> {
    type Began = Kept<A::Owned, S>;

    fn exact_lookup(&self, site: &'static CallSite) -> Result<R, Kept<A::Owned, S>> {
        let nothing = || Kept {
            call: None,
            stored: PhantomData,
        };
        if site.ttl_secs.is_some() || super::hot::budget() == 0 || super::audit::rate() > 0.0 {
            return Err(nothing());
        }
        let hash = hash_of(self.0);
        let looked = scope::with_thread(|thread| {
            let refresh = thread.mode == scope::Mode::Refresh;
            let (store, local) = thread.split();
            let store = store?;
            // A forked child's inherited tier is its parent's (see `warm`).
            if store.inner.forked() {
                return None;
            }
            if !refresh && let Some(found) = local.exact.get::<A, R>(site, store, hash, self.0) {
                local.count_hit(store);
                return Some(Ok(found));
            }
            Some(Err(store.keeps_hot().then(|| Began {
                store: store.id(),
                epoch: store.epoch(),
            })))
        });
        match looked {
            // Cloned outside the thread's state: a `Clone` impl may call cached functions.
            Some(Ok(found)) => Ok(R::clone(&found)),
            Some(Err(Some(began))) => Err(Kept {
                call: Some((self.0.to_owned_args(), hash, began)),
                stored: PhantomData,
            }),
            _ => Err(nothing()),
        }
    }
}

/// Tables keyed by a hash already computed: the hasher passes it through.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

struct ExactEntry<K, R> {
    args: K,
    value: Rc<R>,
    began: Began,
}

type Table<K, R> = HashMap<u64, ExactEntry<K, R>, BuildHasherDefault<Prehashed>>;

/// At most this many results per thread in the exact tier; when full it starts afresh.
const MAX_ENTRIES: usize = 1024;

/// One thread's exact tables, by call site slot.
pub(crate) struct ExactTables {
    sites: Vec<Option<Box<dyn Any>>>,
    entries: usize,
}

impl ExactTables {
    pub(crate) const fn new() -> ExactTables {
        ExactTables {
            sites: Vec::new(),
            entries: 0,
        }
    }

    fn get<A: ExactArgs, R: 'static>(
        &self,
        site: &CallSite,
        store: &Store,
        hash: u64,
        args: &A,
    ) -> Option<Rc<R>> {
        let table = self
            .sites
            .get(site.state.slot())?
            .as_ref()?
            .downcast_ref::<Table<A::Owned, R>>()?;
        let entry = table.get(&hash)?;
        let live = entry.began.store == store.id()
            && entry.began.epoch == store.epoch()
            && args.matches(&entry.args);
        live.then(|| Rc::clone(&entry.value))
    }

    /// Keeps `entry`; returns what the tables let go of, for the caller to drop.
    fn put<K: 'static, R: 'static>(
        &mut self,
        site: &CallSite,
        hash: u64,
        entry: ExactEntry<K, R>,
    ) -> Vec<Box<dyn Any>> {
        let mut released = Vec::new();
        if self.entries >= MAX_ENTRIES {
            released.extend(self.sites.drain(..).flatten());
            self.entries = 0;
        }
        let slot = site.state.slot();
        if self.sites.len() <= slot {
            self.sites.resize_with(slot + 1, || None);
        }
        let table = self.sites[slot]
            .get_or_insert_with(|| Box::new(Table::<K, R>::default()))
            .downcast_mut::<Table<K, R>>();
        match table {
            Some(table) => match table.insert(hash, entry) {
                Some(old) => released.push(Box::new(old)),
                None => self.entries += 1,
            },
            // Another type under this slot cannot happen (one site, one signature); keep
            // nothing rather than panic.
            None => released.push(Box::new(entry)),
        }
        released
    }
}
