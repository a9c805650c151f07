//! How return values are stored: `Stored` encodes and rebuilds a value, `Outcome` says
//! which returns are stored at all (`Ok` only, for a `Result`).

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::CallSite;
use super::codec::{self, Encoded, Refused, Unread};
use super::sink::Stage;
use crate::store::{BlobFile, Payload};
use crate::{Digest, Memo};

/// How a kind of value is stored: what of it is encoded, and how it is rebuilt from that
/// and its content hash. The encoding itself is `codec`'s.
#[doc(hidden)]
pub trait Stored {
    /// The value stored: the function's return value, or its `Ok` value.
    type Value;
    /// What is encoded: the value itself, or what a `Memo` holds.
    type Inner: Storable;
    /// What of `value` is encoded.
    fn inner(value: &Self::Value) -> &Self::Inner;
    /// The value rebuilt from what was decoded, whose bytes hash to `hash`.
    fn rebuild(inner: Self::Inner, hash: Digest) -> Self::Value;
}

/// The bytes to store for a result of `site`, checked to read back — past `FILE_MIN`, in
/// a file `stage` starts; why not, if they cannot be.
pub(crate) fn encode<S: Stored>(
    value: &S::Value,
    site: &'static CallSite,
    stage: Stage<'_>,
) -> Result<Encoded, Refused> {
    codec::encode(S::inner(value), &site.state.codec, site.name, stage)
}

/// The value back, or `None` if the bytes do not decode into it (its type changed).
pub(crate) fn decode<S: Stored>(bytes: &[u8], hash: Digest) -> Option<S::Value> {
    codec::decode(bytes).map(|inner| S::rebuild(inner, hash))
}

/// The value stored in `file`, verified as it is read; `store` is told of a damaged file.
pub(crate) fn decode_file<S: Stored>(
    store: &crate::Store,
    file: &BlobFile,
    hash: Digest,
) -> Option<S::Value> {
    match codec::decode_file(file, &hash) {
        Ok(inner) => Some(S::rebuild(inner, hash)),
        Err(Unread::Damaged) => {
            store.file_damaged(&hash);
            None
        }
        Err(Unread::Undecodable) => None,
    }
}

/// The value stored as `payload`: bytes in memory, or a file.
pub(crate) fn decode_payload<S: Stored>(
    store: &crate::Store,
    payload: &Payload,
    hash: Digest,
) -> Option<S::Value> {
    match payload {
        Payload::Bytes(bytes) => decode::<S>(bytes, hash),
        Payload::File(file) => decode_file::<S>(store, file, hash),
    }
}

/// The content hash of `value`'s encoding, as `site` stores it, without keeping the bytes.
pub(crate) fn digest<S: Stored>(value: &S::Value, site: &'static CallSite) -> Option<Digest> {
    crate::contain::quietly(|| codec::digest(S::inner(value), &site.state.codec))
        .ok()
        .flatten()
}

/// The size of the value's encoding, if it is at most `max` bytes: postcard's, which stops
/// encoding past them, or for a value postcard cannot write (`#[serde(flatten)]`, stored
/// as CBOR) CBOR's.
pub(crate) fn size_within<S: Stored>(value: &S::Value, max: usize) -> Option<usize> {
    let inner = S::inner(value);
    // A `Serialize` that panics was said when the value failed to store.
    crate::contain::quietly(|| {
        match postcard::serialize_with_flavor(inner, Room { left: max, max }) {
            Ok(size) => Some(size),
            Err(postcard::Error::SerializeBufferFull) => None,
            Err(_) => {
                let mut count = super::sink::Counting(0);
                ciborium::into_writer(inner, &mut count).ok()?;
                usize::try_from(count.0).ok().filter(|size| *size <= max)
            }
        }
    })
    .ok()
    .flatten()
}

/// A postcard output that keeps nothing and fails once more than its room is written, so
/// measuring a large value stops early.
struct Room {
    left: usize,
    max: usize,
}

impl postcard::ser_flavors::Flavor for Room {
    type Output = usize;

    fn try_push(&mut self, _: u8) -> postcard::Result<()> {
        self.try_extend(&[0])
    }

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.left = self
            .left
            .checked_sub(data.len())
            .ok_or(postcard::Error::SerializeBufferFull)?;
        Ok(())
    }

    fn finalize(self) -> postcard::Result<usize> {
        Ok(self.max - self.left)
    }
}

/// A value the store can keep: `Serialize` to write it, `Deserialize` to read it back.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored: a cached result must implement `Serialize` and `Deserialize`",
    label = "not storable",
    note = "derive them with `#[derive(serde::Serialize, serde::Deserialize)]`"
)]
pub trait Storable: Serialize + DeserializeOwned {}

impl<T: Serialize + DeserializeOwned> Storable for T {}

/// Any `Serialize + DeserializeOwned` value, stored as itself.
#[doc(hidden)]
pub struct Plain<T>(PhantomData<T>);

impl<T: Storable> Stored for Plain<T> {
    type Value = T;
    type Inner = T;

    fn inner(value: &T) -> &T {
        value
    }

    fn rebuild(inner: T, _: Digest) -> T {
        inner
    }
}

/// A `Memo<T>`, stored as its value; a hit rebuilds it with the stored hash, without
/// hashing the value again.
#[doc(hidden)]
pub struct MemoOf<T>(PhantomData<T>);

impl<T: Storable> Stored for MemoOf<T> {
    type Value = Memo<T>;
    type Inner = T;

    fn inner(value: &Memo<T>) -> &T {
        value
    }

    fn rebuild(inner: T, hash: Digest) -> Memo<T> {
        Memo::from_parts(inner, hash)
    }
}

/// A function's return, as the call path sees it: the part to store, if any, and how to
/// rebuild the return from a stored value.
#[doc(hidden)]
pub trait Outcome: Sized {
    /// What is stored.
    type Ok;
    /// The value to store, or `None` for a return that is not stored (an `Err`).
    fn stored(&self) -> Option<&Self::Ok>;
    /// The return rebuilt from a stored value.
    fn from_stored(value: Self::Ok) -> Self;
}

/// With `#[cached(retries)]`, a `None` is a failure like an `Err`: never stored.
impl<T> Outcome for Option<T> {
    type Ok = T;

    fn stored(&self) -> Option<&T> {
        self.as_ref()
    }

    fn from_stored(value: T) -> Self {
        Some(value)
    }
}

impl<T, E> Outcome for Result<T, E> {
    type Ok = T;

    fn stored(&self) -> Option<&T> {
        self.as_ref().ok()
    }

    fn from_stored(value: T) -> Self {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_within_measures_the_encoding_and_stops_past_the_room() {
        // postcard: a one-byte length, then the bytes.
        let value = vec![7u8; 100];
        let codec = codec::Codec::new();
        let Ok(Encoded::Bytes(bytes)) = codec::encode(&value, &codec, "f", None) else {
            panic!("encodes in memory");
        };
        assert_eq!(bytes.len(), 101);
        assert_eq!(size_within::<Plain<Vec<u8>>>(&value, 101), Some(101));
        assert_eq!(size_within::<Plain<Vec<u8>>>(&value, 100), None);
        assert_eq!(
            size_within::<Plain<Vec<u8>>>(&vec![0u8; 64 << 20], 16 << 10),
            None
        );
    }
}
