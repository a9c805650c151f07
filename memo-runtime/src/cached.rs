//! [`Cached`]: what a `#[cached(flag)]` function returns — its result, and whether it came
//! from the cache.

use std::fmt;
use std::ops::{Deref, DerefMut};

/// A cached function's result with whether it came from the cache, as
/// `#[cached(flag)]` functions return it. It derefs to the result.
///
/// ```
/// #[memo::cached(flag)]
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let store = memo::Store::temporary()?;
/// memo::with_store(&store, || {
///     let first = square(12);
///     assert!(!first.was_hit());
///     assert_eq!(*first, 144);
///     let again = square(12);
///     assert!(again.was_hit());
///     assert_eq!(again.into_inner(), 144);
/// });
/// # Ok::<(), memo::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Cached<T> {
    value: T,
    hit: bool,
}

impl<T> Cached<T> {
    /// `value`, found in the cache (`hit`) or computed.
    ///
    /// ```
    /// let found = memo::Cached::new(3, true);
    /// assert!(found.was_hit());
    /// ```
    pub fn new(value: T, hit: bool) -> Cached<T> {
        Cached { value, hit }
    }

    /// Whether the result came from the cache — memory, the store, a shared tier or
    /// another caller's computation — rather than from running the function.
    ///
    /// ```
    /// assert!(!memo::Cached::new("computed", false).was_hit());
    /// ```
    pub fn was_hit(&self) -> bool {
        self.hit
    }

    /// The result.
    ///
    /// ```
    /// assert_eq!(memo::Cached::new(vec![1], true).into_inner(), vec![1]);
    /// ```
    pub fn into_inner(self) -> T {
        self.value
    }

    /// The same flag on `f` of the result.
    ///
    /// ```
    /// let doubled = memo::Cached::new(21, true).map(|x| x * 2);
    /// assert_eq!((*doubled, doubled.was_hit()), (42, true));
    /// ```
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Cached<U> {
        Cached {
            value: f(self.value),
            hit: self.hit,
        }
    }
}

impl<T> Deref for Cached<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for Cached<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T> AsRef<T> for Cached<T> {
    fn as_ref(&self) -> &T {
        &self.value
    }
}

impl<T: fmt::Display> fmt::Display for Cached<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}
