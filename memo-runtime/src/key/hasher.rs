//! `KeyHasher`: the typed stream a key is made of, kept inline while it is small so that a
//! warm hit can be found by the stream itself, without hashing it.

use std::mem::MaybeUninit;

use super::{CacheKey, tag};
use crate::Digest;

/// blake3 runs in keyed mode with this key, which separates memo's keys from any other use
/// of blake3 and carries the format version.
const DOMAIN: &[u8; 32] = b"memo cache-key stream, format 1\0";

/// Streams up to this many bytes stay inline; longer ones go to blake3 as they come.
const INLINE: usize = 320;

/// Builds a cache key from a typed, length-prefixed stream of values.
///
/// Every value starts with a one-byte tag naming its kind; strings, byte strings and
/// sequences carry their length; `usize` and `isize` are written as 64 bits, so a key is the
/// same on every platform. The stream goes to blake3 in keyed mode, which also carries the
/// [`KEY_FORMAT_VERSION`](crate::KEY_FORMAT_VERSION).
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
    /// A cached function's fingerprint and name, which start its stream; fed to blake3
    /// only when the digest is needed.
    prefix: Option<(&'static [u8; 32], &'static str)>,
    /// The stream so far; bytes `..len` are written, the rest never read.
    buf: [MaybeUninit<u8>; INLINE],
    len: usize,
    /// Where the stream went once it outgrew `buf`: everything so far, prefix included.
    spill: Option<Box<blake3::Hasher>>,
    uncacheable: Option<String>,
    inputs: Vec<Digest>,
    /// The digest, once computed: the stream no longer changes by then.
    digest: std::sync::OnceLock<Digest>,
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
    ///
    /// ```
    /// let mut h = memo::KeyHasher::new();
    /// h.update(&42u64);
    /// assert_eq!(h.finish(), memo::key_of(&42u64));
    /// ```
    pub fn new() -> KeyHasher {
        KeyHasher {
            prefix: None,
            buf: [MaybeUninit::uninit(); INLINE],
            len: 0,
            spill: None,
            uncacheable: None,
            inputs: Vec::new(),
            digest: std::sync::OnceLock::new(),
        }
    }

    /// A hasher whose stream starts with a cached function's fingerprint and name.
    pub(crate) fn for_function(fingerprint: &'static [u8; 32], name: &'static str) -> KeyHasher {
        KeyHasher {
            prefix: Some((fingerprint, name)),
            ..KeyHasher::new()
        }
    }

    /// Feeds `value` into the stream; the same as `value.cache_key(self)`.
    ///
    /// ```
    /// let mut ab = memo::KeyHasher::new();
    /// ab.update("a").update(&1u8);
    /// let mut ba = memo::KeyHasher::new();
    /// ba.update(&1u8).update("a");
    /// assert_ne!(ab.finish(), ba.finish());
    /// ```
    pub fn update<T: CacheKey + ?Sized>(&mut self, value: &T) -> &mut Self {
        value.cache_key(self);
        self
    }

    /// The key of everything fed so far.
    ///
    /// ```
    /// let mut h = memo::KeyHasher::new();
    /// h.update(&[1u8, 2, 3][..]);
    /// assert_eq!(h.finish(), h.finish());
    /// ```
    pub fn finish(&self) -> Digest {
        if let Some(digest) = self.digest.get() {
            return *digest;
        }
        let digest = self.compute();
        if self.prefix.is_some() {
            // A cached call's key is asked for more than once; remember it.
            let _ = self.digest.set(digest);
        }
        digest
    }

    /// A cached call's key hashes the function's name, the arguments, then the code's
    /// fingerprint: what comes before the fingerprint is the call's identity across code
    /// versions ([`KeyHasher::call_identity`]), had in the same pass.
    fn compute(&self) -> Digest {
        let fingerprint = self.prefix.map(|(fingerprint, _)| fingerprint);
        if let Some(spill) = &self.spill {
            return match fingerprint {
                None => Digest::from(spill.finalize()),
                Some(fingerprint) => {
                    let mut hasher = (**spill).clone();
                    hasher.update(fingerprint);
                    Digest::from(hasher.finalize())
                }
            };
        }
        match fingerprint {
            None => Digest::from(blake3::keyed_hash(DOMAIN, self.filled())),
            Some(fingerprint) => {
                let mut hasher = blake3::Hasher::new_keyed(DOMAIN);
                self.feed_prefix(&mut hasher);
                hasher.update(self.filled());
                hasher.update(fingerprint);
                Digest::from(hasher.finalize())
            }
        }
    }

    /// What names a cached call whatever the version of the function's code: the hash of
    /// its name and arguments, without the fingerprint (`memo history`). `None` for a
    /// stream that is not a cached call's.
    pub(crate) fn call_identity(&self) -> Option<Digest> {
        self.prefix?;
        if let Some(spill) = &self.spill {
            return Some(Digest::from(spill.finalize()));
        }
        let mut hasher = blake3::Hasher::new_keyed(DOMAIN);
        self.feed_prefix(&mut hasher);
        hasher.update(self.filled());
        Some(Digest::from(hasher.finalize()))
    }

    /// The stream after the prefix, while it is short enough to be kept whole.
    pub(crate) fn stream(&self) -> Option<&[u8]> {
        self.spill.is_none().then(|| self.filled())
    }

    /// Starts a struct with `fields` keyed fields; each follows as [`write_field`] and the
    /// field's value.
    ///
    /// [`write_field`]: KeyHasher::write_field
    ///
    /// ```
    /// use memo::{CacheKey, KeyHasher};
    ///
    /// struct Point { x: i32, y: i32 }
    ///
    /// impl CacheKey for Point {
    ///     fn cache_key(&self, h: &mut KeyHasher) {
    ///         h.write_struct("Point", 2);
    ///         h.write_field("x");
    ///         self.x.cache_key(h);
    ///         h.write_field("y");
    ///         self.y.cache_key(h);
    ///     }
    /// }
    ///
    /// assert_ne!(memo::key_of(&Point { x: 1, y: 2 }), memo::key_of(&Point { x: 2, y: 1 }));
    /// ```
    pub fn write_struct(&mut self, name: &str, fields: usize) {
        self.write_tag(tag::STRUCT);
        self.write_str_raw(name);
        self.write_len(fields);
    }

    /// Starts an enum variant with `fields` keyed fields, which follow as for a struct.
    ///
    /// ```
    /// use memo::{CacheKey, KeyHasher};
    ///
    /// enum Shape { Circle(f64), Square(f64) }
    ///
    /// impl CacheKey for Shape {
    ///     fn cache_key(&self, h: &mut KeyHasher) {
    ///         let (variant, side) = match self {
    ///             Shape::Circle(r) => ("Circle", r),
    ///             Shape::Square(s) => ("Square", s),
    ///         };
    ///         h.write_variant("Shape", variant, 1);
    ///         h.write_field("0");
    ///         side.cache_key(h);
    ///     }
    /// }
    ///
    /// assert_ne!(memo::key_of(&Shape::Circle(1.0)), memo::key_of(&Shape::Square(1.0)));
    /// ```
    pub fn write_variant(&mut self, enum_name: &str, variant: &str, fields: usize) {
        self.write_tag(tag::VARIANT);
        self.write_str_raw(enum_name);
        self.write_str_raw(variant);
        self.write_len(fields);
    }

    /// Names the next field of a struct or variant; tuple fields are named by their index.
    ///
    /// ```
    /// let mut a = memo::KeyHasher::new();
    /// a.write_field("width");
    /// let mut b = memo::KeyHasher::new();
    /// b.write_field("height");
    /// assert_ne!(a.finish(), b.finish());
    /// ```
    pub fn write_field(&mut self, name: &str) {
        self.write_tag(tag::FIELD);
        self.write_str_raw(name);
    }

    /// Feeds an opaque byte string, tagged and length-prefixed.
    ///
    /// ```
    /// let mut raw = memo::KeyHasher::new();
    /// raw.write_bytes(b"abc");
    /// assert_ne!(raw.finish(), memo::key_of("abc"), "bytes and a string are told apart");
    /// ```
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        self.write_tag(tag::BYTES);
        self.write_len(bytes.len());
        self.write_raw(bytes);
    }

    /// Says that this key cannot stand for its value — an input could not be read, or a
    /// value failed to serialize — so the call it belongs to must run uncached. The first
    /// reason is kept.
    ///
    /// ```
    /// let mut h = memo::KeyHasher::new();
    /// h.mark_uncacheable("the input file could not be read");
    /// h.mark_uncacheable("a later reason");
    /// assert_eq!(h.uncacheable(), Some("the input file could not be read"));
    /// ```
    pub fn mark_uncacheable(&mut self, reason: impl Into<String>) {
        if self.uncacheable.is_none() {
            self.uncacheable = Some(reason.into());
        }
    }

    /// Why this key cannot be used, if [`mark_uncacheable`](KeyHasher::mark_uncacheable)
    /// was called.
    ///
    /// ```
    /// assert_eq!(memo::KeyHasher::new().uncacheable(), None);
    /// ```
    pub fn uncacheable(&self) -> Option<&str> {
        self.uncacheable.as_deref()
    }

    /// Records that this key was built from a stored result with content hash `input`
    /// (a `Memo` argument), so the store can keep the lineage of the entry.
    ///
    /// ```
    /// let data = memo::Memo::new(vec![1, 2]);
    /// let mut h = memo::KeyHasher::new();
    /// h.record_input(data.hash());
    /// assert_eq!(h.inputs(), &[data.hash()]);
    /// ```
    pub fn record_input(&mut self, input: Digest) {
        self.inputs.push(input);
    }

    /// The content hashes recorded with [`record_input`](KeyHasher::record_input).
    ///
    /// ```
    /// let mut h = memo::KeyHasher::new();
    /// h.update(&memo::Memo::new("text".to_string()));
    /// assert_eq!(h.inputs().len(), 1, "a `Memo` records its hash as it is keyed");
    /// ```
    pub fn inputs(&self) -> &[Digest] {
        &self.inputs
    }

    /// The function's name, which starts a cached call's stream (its fingerprint ends it).
    fn feed_prefix(&self, hasher: &mut blake3::Hasher) {
        if let Some((_, name)) = self.prefix {
            hasher.update(&(name.len() as u64).to_le_bytes());
            hasher.update(name.as_bytes());
        }
    }

    pub(crate) fn write_tag(&mut self, tag: u8) {
        self.write_raw(&[tag]);
    }

    /// A tag followed by a fixed number of bytes: the common case of a scalar, written
    /// with moves of known size.
    #[inline]
    pub(crate) fn write_tagged<const N: usize>(&mut self, tag: u8, bytes: [u8; N]) {
        self.digest.take();
        if self.spill.is_none() && self.len + 1 + N <= INLINE {
            self.buf[self.len].write(tag);
            for (slot, byte) in self.buf[self.len + 1..self.len + 1 + N]
                .iter_mut()
                .zip(bytes)
            {
                slot.write(byte);
            }
            self.len += 1 + N;
            return;
        }
        self.write_raw(&[tag]);
        self.write_raw(&bytes);
    }

    /// The bytes of the stream kept inline.
    fn filled(&self) -> &[u8] {
        // SAFETY: `buf[..len]` has been written: `len` only grows by the number of bytes
        // written just before it (in `write_raw` and `write_tagged`), and `u8` has no
        // invalid values.
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr().cast::<u8>(), self.len) }
    }

    pub(crate) fn write_len(&mut self, len: usize) {
        self.write_raw(&(len as u64).to_le_bytes());
    }

    pub(crate) fn write_str_raw(&mut self, s: &str) {
        self.write_len(s.len());
        self.write_raw(s.as_bytes());
    }

    #[inline]
    pub(crate) fn write_raw(&mut self, bytes: &[u8]) {
        self.digest.take();
        if self.spill.is_none() && self.len + bytes.len() <= INLINE {
            for (slot, byte) in self.buf[self.len..self.len + bytes.len()]
                .iter_mut()
                .zip(bytes)
            {
                slot.write(*byte);
            }
            self.len += bytes.len();
            return;
        }
        self.spilled().update(bytes);
    }

    /// The blake3 hasher the stream continues in, created with what was inline.
    fn spilled(&mut self) -> &mut blake3::Hasher {
        if self.spill.is_none() {
            let mut hasher = Box::new(blake3::Hasher::new_keyed(DOMAIN));
            self.feed_prefix(&mut hasher);
            hasher.update(self.filled());
            self.len = 0;
            self.spill = Some(hasher);
        }
        self.spill.as_mut().expect("just set")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static OLD: [u8; 32] = [1; 32];
    static NEW: [u8; 32] = [2; 32];

    fn call(fingerprint: &'static [u8; 32], arg: &str) -> KeyHasher {
        let mut h = KeyHasher::for_function(fingerprint, "app::train");
        h.update(arg);
        h
    }

    #[test]
    fn a_calls_identity_outlives_its_code_and_its_key_does_not() {
        for arg in ["short", &"long ".repeat(200)] {
            let (old, new) = (call(&OLD, arg), call(&NEW, arg));
            assert_ne!(old.finish(), new.finish(), "another version, another key");
            assert_eq!(old.call_identity(), new.call_identity(), "the same call");
            assert_ne!(old.call_identity(), call(&OLD, "other").call_identity());
            assert_ne!(old.call_identity(), Some(old.finish()));
        }
        // A stream past the inline buffer spills: its key and identity are as stable.
        let long = "long ".repeat(200);
        assert_eq!(call(&OLD, &long).finish(), call(&OLD, &long).finish());
        assert!(KeyHasher::new().call_identity().is_none());
    }
}
