//! [`Memo<T>`]: a result with its content hash, which keys by that hash alone.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::key::tag;
use crate::{CacheKey, Digest, KeyHasher};

/// A value with its content hash: the blake3 hash of its postcard encoding, the same hash
/// under which the store keeps it.
///
/// Return a `Memo` from a cached function whose result feeds another one. Passing it on
/// keys the next call by the hash alone — O(1) whatever the size of the value — so keys
/// chain Merkle-style: in `load → normalize → train`, editing `normalize` re-runs
/// `normalize` and `train` but not `load`, and the store records which results fed which.
///
/// A `Memo` derefs to its value and clones cheaply (the value is shared). It serializes as
/// the value itself.
///
/// ```
/// use memo::Memo;
///
/// let a = Memo::new(vec![1.0f32, 2.0, 3.0]);
/// let b = Memo::new(vec![1.0f32, 2.0, 3.0]);
/// assert_eq!(a.len(), 3);
/// assert_eq!(a.hash(), b.hash());
/// assert_eq!(memo::key_of(&a), memo::key_of(&b.clone()));
/// assert_ne!(a.hash(), Memo::new(vec![1.0f32]).hash());
/// ```
pub struct Memo<T> {
    value: Arc<T>,
    hash: Digest,
}

impl<T: Serialize> Memo<T> {
    /// Wraps `value`, hashing its postcard encoding.
    ///
    /// A value whose `Serialize` impl fails gets a hash of its own that matches nothing,
    /// so results computed from it are never reused, and one warning says so.
    ///
    /// ```
    /// let m = memo::Memo::new(vec![1, 2, 3]);
    /// assert_eq!(*m, vec![1, 2, 3]);
    /// ```
    pub fn new(value: T) -> Memo<T> {
        let hash = match postcard::to_stdvec(&value) {
            Ok(bytes) => Digest::of_bytes(&bytes),
            Err(error) => {
                crate::warn::once("memo serialize", || {
                    format!(
                        "a `Memo` value failed to serialize ({error}); results computed from it are not reused"
                    )
                });
                unique_digest()
            }
        };
        Memo {
            value: Arc::new(value),
            hash,
        }
    }
}

impl<T> Memo<T> {
    /// The content hash: blake3 of the value's postcard encoding.
    ///
    /// ```
    /// let a = memo::Memo::new("abc".to_string());
    /// assert_eq!(a.hash(), memo::Memo::new("abc".to_string()).hash());
    /// ```
    pub fn hash(&self) -> Digest {
        self.hash
    }

    /// The value, shared with the other clones of this `Memo`.
    ///
    /// ```
    /// let m = memo::Memo::new(5u8);
    /// let shared = std::sync::Arc::clone(m.value());
    /// assert_eq!(*shared, 5);
    /// ```
    pub fn value(&self) -> &Arc<T> {
        &self.value
    }

    /// The value, cloned only if other clones of this `Memo` still share it.
    ///
    /// ```
    /// let m = memo::Memo::new(vec![1u8]);
    /// assert_eq!(m.into_inner(), vec![1]);
    /// ```
    pub fn into_inner(self) -> T
    where
        T: Clone,
    {
        Arc::unwrap_or_clone(self.value)
    }

    /// Rebuilds a `Memo` from a stored value and the hash it was stored under.
    pub(crate) fn from_parts(value: T, hash: Digest) -> Memo<T> {
        Memo {
            value: Arc::new(value),
            hash,
        }
    }
}

/// A digest no value hashes to in practice: random, from the process's hasher seed and a
/// counter.
fn unique_digest() -> Digest {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed));
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"unserializable value");
    hasher.update(&seed.to_le_bytes());
    hasher.update(&std::process::id().to_le_bytes());
    Digest::from(hasher.finalize())
}

impl<T> Deref for Memo<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> AsRef<T> for Memo<T> {
    fn as_ref(&self) -> &T {
        &self.value
    }
}

impl<T> Clone for Memo<T> {
    fn clone(&self) -> Memo<T> {
        Memo {
            value: Arc::clone(&self.value),
            hash: self.hash,
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Memo<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memo")
            .field("hash", &format_args!("{}", self.hash.short()))
            .field("value", &self.value)
            .finish()
    }
}

impl<T> PartialEq for Memo<T> {
    fn eq(&self, other: &Memo<T>) -> bool {
        self.hash == other.hash
    }
}

impl<T> Eq for Memo<T> {}

impl<T> std::hash::Hash for Memo<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.hash.hash(state);
    }
}

/// A `Memo` keys by its content hash alone, and records the hash as an input of the call
/// it is passed to (lineage).
impl<T> CacheKey for Memo<T> {
    fn cache_key(&self, h: &mut KeyHasher) {
        h.write_tag(tag::MEMO);
        h.write_raw(self.hash.as_bytes());
        h.record_input(self.hash);
    }
}

impl<T: Serialize> Serialize for Memo<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

impl<'de, T: Serialize + DeserializeOwned> Deserialize<'de> for Memo<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Memo<T>, D::Error> {
        T::deserialize(deserializer).map(Memo::new)
    }
}
