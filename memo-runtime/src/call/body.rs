//! A cached function's body as the call path receives it: run once on a miss, and — for
//! an audited hit (`MEMO_AUDIT`) — run twice where it can be, so a result that changes
//! between two fresh runs is told apart from one the fingerprint missed.
//!
//! Whether a body can run twice (its arguments are `Clone`, so each run gets its own) and
//! how two results compare (`PartialEq` where the type has it, else their bytes) are
//! settled by the types at the expansion site, with autoref specialisation: `#[cached]`
//! asks [`ArgsProbe`] and [`SameProbe`] and wraps its closure accordingly.

use std::future::Future;
use std::marker::PhantomData;

use super::describe::{ArgsText, DescribeFn};

/// Compares two results of one function: `true` when they are the same value.
pub type SameFn<V> = fn(&V, &V) -> bool;

fn never_same<V>(_: &V, _: &V) -> bool {
    false
}

/// What the call path runs on a miss, or to audit a hit.
#[doc(hidden)]
pub trait Body<R, V> {
    /// Runs the body.
    fn run(self) -> R;
    /// Runs the body twice if it can be run twice, else once.
    fn run_twice(self) -> (R, Option<R>);
    /// How two stored values compare beyond their bytes.
    fn same_fn(&self) -> SameFn<V>;
    /// The arguments' readable form, to record with the result; before the body runs.
    fn describe(&self) -> Option<String> {
        None
    }
}

/// The readable form of `args`, if the function describes them.
fn described<A>(args: &A, describe: Option<DescribeFn<A>>) -> Option<String> {
    let describe = describe?;
    let mut text = ArgsText::default();
    // A `Debug` that panics costs the description, never the call.
    crate::contain::quietly(|| describe(args, &mut text)).ok()?;
    Some(text.finish())
}

/// Any closure is a body that runs once and compares by bytes.
impl<F: FnOnce() -> R, R, V> Body<R, V> for F {
    fn run(self) -> R {
        self()
    }

    fn run_twice(self) -> (R, Option<R>) {
        (self(), None)
    }

    fn same_fn(&self) -> SameFn<V> {
        never_same
    }
}

/// A body that takes its arguments, which can be cloned: it can run twice.
#[doc(hidden)]
pub struct Twice<A, F, V> {
    args: A,
    body: F,
    same: SameFn<V>,
    describe: Option<DescribeFn<A>>,
}

impl<A: Clone, F: Fn(A) -> R, R, V> Body<R, V> for Twice<A, F, V> {
    fn run(self) -> R {
        (self.body)(self.args)
    }

    fn run_twice(self) -> (R, Option<R>) {
        let first = (self.body)(self.args.clone());
        (first, Some((self.body)(self.args)))
    }

    fn same_fn(&self) -> SameFn<V> {
        self.same
    }

    fn describe(&self) -> Option<String> {
        described(&self.args, self.describe)
    }
}

/// A body whose arguments cannot be cloned: it runs once.
#[doc(hidden)]
pub struct Once<A, F, V> {
    args: A,
    body: F,
    same: SameFn<V>,
    describe: Option<DescribeFn<A>>,
}

impl<A, F: FnOnce(A) -> R, R, V> Body<R, V> for Once<A, F, V> {
    fn run(self) -> R {
        (self.body)(self.args)
    }

    fn run_twice(self) -> (R, Option<R>) {
        ((self.body)(self.args), None)
    }

    fn same_fn(&self) -> SameFn<V> {
        self.same
    }

    fn describe(&self) -> Option<String> {
        described(&self.args, self.describe)
    }
}

/// What an `async fn`'s body gives the call path: its future, run once, and how two
/// results compare.
#[doc(hidden)]
pub trait AsyncBody<R, V> {
    /// The body's future.
    type Future: Future<Output = R>;
    /// The future, to run.
    fn into_future(self) -> Self::Future;
    /// How two stored values compare beyond their bytes.
    fn same_fn(&self) -> SameFn<V>;
    /// The arguments' readable form, to record with the result; before the body runs.
    fn describe(&self) -> Option<String> {
        None
    }
}

impl<Fut: Future<Output = R>, R, V> AsyncBody<R, V> for Fut {
    type Future = Fut;

    fn into_future(self) -> Fut {
        self
    }

    fn same_fn(&self) -> SameFn<V> {
        never_same
    }
}

/// An `async fn`'s body that takes its arguments, so they can be described before its
/// future is made.
#[doc(hidden)]
pub struct Deferred<A, F, V> {
    args: A,
    body: F,
    same: SameFn<V>,
    describe: Option<DescribeFn<A>>,
}

impl<A, F, V> Deferred<A, F, V> {
    /// The body `body`, to be called with `args`; its results compare with `same`.
    pub fn new<Fut: Future>(
        args: A,
        body: F,
        same: SameFn<V>,
        describe: Option<DescribeFn<A>>,
    ) -> Self
    where
        F: FnOnce(A) -> Fut,
    {
        Deferred {
            args,
            body,
            same,
            describe,
        }
    }
}

impl<A, F: FnOnce(A) -> Fut, Fut: Future<Output = R>, R, V> AsyncBody<R, V> for Deferred<A, F, V> {
    type Future = Fut;

    fn into_future(self) -> Fut {
        (self.body)(self.args)
    }

    fn same_fn(&self) -> SameFn<V> {
        self.same
    }

    fn describe(&self) -> Option<String> {
        described(&self.args, self.describe)
    }
}

/// Asks, by the methods it answers to, whether a function's arguments `A` (as a tuple)
/// can be cloned, so its body can run twice.
#[doc(hidden)]
pub struct ArgsProbe<A>(PhantomData<fn() -> A>);

impl<A> ArgsProbe<A> {
    /// The probe of `A`.
    #[allow(clippy::new_without_default)]
    pub fn new() -> ArgsProbe<A> {
        ArgsProbe(PhantomData)
    }
}

/// The answer for arguments that can be cloned.
#[doc(hidden)]
pub struct Cloned;

/// The answer for arguments that cannot.
#[doc(hidden)]
pub struct Moved;

/// Chosen, by method resolution, for arguments that are `Clone`.
#[doc(hidden)]
pub trait ArgsCloned {
    /// [`Cloned`].
    fn args_kind(&self) -> Cloned {
        Cloned
    }
}

impl<A: Clone> ArgsCloned for ArgsProbe<A> {}

/// Chosen for any other arguments.
#[doc(hidden)]
pub trait ArgsMoved {
    /// [`Moved`].
    fn args_kind(&self) -> Moved {
        Moved
    }
}

impl<A> ArgsMoved for &ArgsProbe<A> {}

impl Cloned {
    /// The body, taking `args`; it can run twice when audited.
    pub fn wrap<A: Clone, F: Fn(A) -> R, R, V>(
        self,
        args: A,
        body: F,
        same: SameFn<V>,
        describe: Option<DescribeFn<A>>,
    ) -> Twice<A, F, V> {
        Twice {
            args,
            body,
            same,
            describe,
        }
    }
}

impl Moved {
    /// The body, taking `args`; it runs once.
    pub fn wrap<A, F: FnOnce(A) -> R, R, V>(
        self,
        args: A,
        body: F,
        same: SameFn<V>,
        describe: Option<DescribeFn<A>>,
    ) -> Once<A, F, V> {
        Once {
            args,
            body,
            same,
            describe,
        }
    }
}

/// Asks, by the methods it answers to, how two values of `V` compare.
#[doc(hidden)]
pub struct SameProbe<V>(PhantomData<fn() -> V>);

impl<V> SameProbe<V> {
    /// The probe of `V`.
    #[allow(clippy::new_without_default)]
    pub fn new() -> SameProbe<V> {
        SameProbe(PhantomData)
    }
}

fn equal<V: PartialEq>(a: &V, b: &V) -> bool {
    a == b
}

/// Chosen for a `PartialEq` type: two values are the same when `==` says so (a map
/// whose order differs from run to run is still the same map).
#[doc(hidden)]
pub trait SameByEq<V> {
    /// `==`.
    fn same_fn(&self) -> SameFn<V>;
}

impl<V: PartialEq> SameByEq<V> for SameProbe<V> {
    fn same_fn(&self) -> SameFn<V> {
        equal::<V>
    }
}

/// Chosen for any other type: only equal bytes are the same.
#[doc(hidden)]
pub trait SameByBytes<V> {
    /// Never the same beyond the bytes.
    fn same_fn(&self) -> SameFn<V>;
}

impl<V> SameByBytes<V> for &SameProbe<V> {
    fn same_fn(&self) -> SameFn<V> {
        never_same
    }
}

#[cfg(test)]
// The probes are called as the expansion calls them: through a reference.
#[allow(clippy::needless_borrow)]
mod tests {
    use super::*;

    #[test]
    fn a_body_with_arguments_that_clone_runs_twice_and_one_without_runs_once() {
        let body = (&ArgsProbe::<(String,)>::new()).args_kind().wrap(
            (String::from("x"),),
            |(text,): (String,)| text.into_bytes().len(),
            never_same::<usize>,
            None,
        );
        assert_eq!(Body::<usize, usize>::run_twice(body), (1, Some(1)));

        struct Token;
        let body = (&ArgsProbe::<(Token, u8)>::new()).args_kind().wrap(
            (Token, 1),
            |(_token, n): (Token, u8)| n,
            never_same::<u8>,
            None,
        );
        assert_eq!(Body::<u8, u8>::run_twice(body), (1, None));
    }

    #[test]
    fn values_compare_by_eq_where_they_can() {
        use std::collections::HashMap;
        let a: HashMap<u32, u32> = (0..100).map(|i| (i, i)).collect();
        let b: HashMap<u32, u32> = (0..100).rev().map(|i| (i, i)).collect();
        assert!((&SameProbe::<HashMap<u32, u32>>::new()).same_fn()(&a, &b));
        struct Opaque;
        assert!(!(&SameProbe::<Opaque>::new()).same_fn()(&Opaque, &Opaque));
    }
}
