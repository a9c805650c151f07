//! The key protocol: the [`CacheKey`] trait and the [`KeyHasher`] that turns values into a
//! typed, length-prefixed blake3 stream.

mod collections;
mod env;
mod file;
mod hasher;
mod primitives;
mod serde_key;
pub(crate) mod tag;

use crate::Digest;

pub use env::key_env;
pub use file::FileContent;
pub use hasher::KeyHasher;
pub use serde_key::Serde;

/// The version of the key stream. It is hashed into every key, so a change to the stream's
/// encoding gives new keys instead of colliding with old ones.
///
/// ```
/// assert_eq!(memo::KEY_FORMAT_VERSION, 1);
/// ```
pub const KEY_FORMAT_VERSION: u32 = 1;

/// A value that can be part of a cache key.
///
/// An implementation feeds the value's content to a [`KeyHasher`], as a typed stream: equal
/// values must feed equal streams, and values that are not equal should feed different ones.
/// memo implements it for the std types people pass to functions; `#[derive(CacheKey)]`
/// implements it for your own structs and enums, and [`Serde`] keys any `Serialize` value.
///
/// A hand-written implementation composes the keys of its parts:
///
/// ```
/// use memo::{CacheKey, KeyHasher};
///
/// struct Span { start: u64, end: u64, label: String }
///
/// impl CacheKey for Span {
///     fn cache_key(&self, h: &mut KeyHasher) {
///         h.write_struct("Span", 3);
///         h.write_field("start");
///         self.start.cache_key(h);
///         h.write_field("end");
///         self.end.cache_key(h);
///         h.write_field("label");
///         self.label.cache_key(h);
///     }
/// }
///
/// let a = Span { start: 1, end: 2, label: "x".into() };
/// let b = Span { start: 1, end: 2, label: "y".into() };
/// assert_ne!(memo::key_of(&a), memo::key_of(&b));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a cache key: it does not implement `CacheKey`",
    label = "not `CacheKey`",
    note = "derive it with `#[derive(memo::CacheKey)]`, key a serde type with `memo::Serde(..)`, or leave the argument out of the key with `#[cached(skip(..))]`"
)]
pub trait CacheKey {
    /// Feeds this value's content into `hasher`.
    fn cache_key(&self, hasher: &mut KeyHasher);

    /// Feeds the elements of a slice, after its length has been written.
    ///
    /// The default keys each element in turn. Fixed-width primitives override it to write
    /// their bytes in one run, which makes keying a `Vec<u8>` or `Vec<f32>` as fast as
    /// hashing its memory.
    fn cache_key_slice(items: &[Self], hasher: &mut KeyHasher)
    where
        Self: Sized,
    {
        for item in items {
            item.cache_key(hasher);
        }
    }
}

/// Computes the key of one value: a fresh [`KeyHasher`], fed `value`, finished.
///
/// ```
/// assert_eq!(memo::key_of(&("ab", "c")), memo::key_of(&("ab", "c")));
/// assert_ne!(memo::key_of(&("ab", "c")), memo::key_of(&("a", "bc")));
/// ```
pub fn key_of<T: CacheKey + ?Sized>(value: &T) -> Digest {
    let mut hasher = KeyHasher::new();
    value.cache_key(&mut hasher);
    hasher.finish()
}
