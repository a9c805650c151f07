//! The key protocol: the [`CacheKey`] trait and the [`KeyHasher`] that turns values into a
//! typed, length-prefixed blake3 stream.

mod collections;
mod file;
mod primitives;
mod serde_key;
pub(crate) mod tag;

use crate::Digest;

pub use file::FileContent;
pub use serde_key::Serde;

/// The version of the key stream. It is hashed into every key, so a change to the stream's
/// encoding gives new keys instead of colliding with old ones.
pub const KEY_FORMAT_VERSION: u32 = 1;

/// blake3 runs in keyed mode with this key, which separates memo's keys from any other use
/// of blake3 and carries the format version.
const DOMAIN: &[u8; 32] = b"memo cache-key stream, format 1\0";

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

/// Builds a cache key from a typed, length-prefixed stream of values.
///
/// Every value starts with a one-byte tag naming its kind; strings, byte strings and
/// sequences carry their length; `usize` and `isize` are written as 64 bits, so a key is the
/// same on every platform. The stream goes to blake3 in keyed mode, which also carries the
/// [`KEY_FORMAT_VERSION`].
///
/// ```
/// use memo::{CacheKey, KeyHasher};
///
/// let mut h = KeyHasher::new();
/// "load".cache_key(&mut h);
/// 42u64.cache_key(&mut h);
/// let key = h.finish();
/// assert_eq!(key, {
///     let mut h = KeyHasher::new();
///     String::from("load").cache_key(&mut h);
///     42usize.cache_key(&mut h);
///     h.finish()
/// });
/// ```
#[derive(Clone)]
pub struct KeyHasher {
    inner: blake3::Hasher,
    uncacheable: Option<String>,
    inputs: Vec<Digest>,
}

impl Default for KeyHasher {
    fn default() -> Self {
        KeyHasher::new()
    }
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyHasher")
            .field("uncacheable", &self.uncacheable)
            .finish_non_exhaustive()
    }
}

impl KeyHasher {
    /// A hasher with an empty stream.
    pub fn new() -> KeyHasher {
        KeyHasher {
            inner: blake3::Hasher::new_keyed(DOMAIN),
            uncacheable: None,
            inputs: Vec::new(),
        }
    }

    /// Feeds `value` into the stream; the same as `value.cache_key(self)`.
    pub fn update<T: CacheKey + ?Sized>(&mut self, value: &T) -> &mut Self {
        value.cache_key(self);
        self
    }

    /// The key of everything fed so far.
    pub fn finish(&self) -> Digest {
        Digest::from(self.inner.finalize())
    }

    /// Starts a struct with `fields` keyed fields; each follows as [`write_field`] and the
    /// field's value.
    ///
    /// [`write_field`]: KeyHasher::write_field
    pub fn write_struct(&mut self, name: &str, fields: usize) {
        self.write_tag(tag::STRUCT);
        self.write_str_raw(name);
        self.write_len(fields);
    }

    /// Starts an enum variant with `fields` keyed fields, which follow as for a struct.
    pub fn write_variant(&mut self, enum_name: &str, variant: &str, fields: usize) {
        self.write_tag(tag::VARIANT);
        self.write_str_raw(enum_name);
        self.write_str_raw(variant);
        self.write_len(fields);
    }

    /// Names the next field of a struct or variant; tuple fields are named by their index.
    pub fn write_field(&mut self, name: &str) {
        self.write_tag(tag::FIELD);
        self.write_str_raw(name);
    }

    /// Feeds an opaque byte string, tagged and length-prefixed.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        self.write_tag(tag::BYTES);
        self.write_len(bytes.len());
        self.inner.update(bytes);
    }

    /// Says that this key cannot stand for its value — an input could not be read, or a
    /// value failed to serialize — so the call it belongs to must run uncached. The first
    /// reason is kept.
    pub fn mark_uncacheable(&mut self, reason: impl Into<String>) {
        if self.uncacheable.is_none() {
            self.uncacheable = Some(reason.into());
        }
    }

    /// Why this key cannot be used, if [`mark_uncacheable`](KeyHasher::mark_uncacheable)
    /// was called.
    pub fn uncacheable(&self) -> Option<&str> {
        self.uncacheable.as_deref()
    }

    /// Records that this key was built from a stored result with content hash `input`
    /// (a `Memo` argument), so the store can keep the lineage of the entry.
    pub fn record_input(&mut self, input: Digest) {
        self.inputs.push(input);
    }

    /// The content hashes recorded with [`record_input`](KeyHasher::record_input).
    pub fn inputs(&self) -> &[Digest] {
        &self.inputs
    }

    pub(crate) fn write_tag(&mut self, tag: u8) {
        self.inner.update(&[tag]);
    }

    /// A tag followed by up to 16 bytes, in one call to blake3.
    pub(crate) fn write_tagged(&mut self, tag: u8, bytes: &[u8]) {
        let mut buf = [0u8; 17];
        buf[0] = tag;
        buf[1..=bytes.len()].copy_from_slice(bytes);
        self.inner.update(&buf[..=bytes.len()]);
    }

    pub(crate) fn write_len(&mut self, len: usize) {
        self.inner.update(&(len as u64).to_le_bytes());
    }

    pub(crate) fn write_str_raw(&mut self, s: &str) {
        self.write_len(s.len());
        self.inner.update(s.as_bytes());
    }

    pub(crate) fn write_raw(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
    }
}
