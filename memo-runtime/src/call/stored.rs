//! How return values are stored: `Stored` encodes and rebuilds a value, `Outcome` says
//! which returns are stored at all (`Ok` only, for a `Result`).

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{CallSite, codec};
use crate::{Digest, Memo};

/// How a kind of value is stored: encoded (see `codec`), and rebuilt from the bytes and
/// their content hash.
#[doc(hidden)]
pub trait Stored {
    /// The value stored: the function's return value, or its `Ok` value.
    type Value;
    /// The bytes to store for a result of `site`, checked to read back; why not, if they
    /// cannot be.
    fn encode(value: &Self::Value, site: &'static CallSite) -> Result<Vec<u8>, String>;
    /// The value back, or `None` if the bytes do not decode into it (its type changed).
    fn decode(bytes: &[u8], hash: Digest) -> Option<Self::Value>;
    /// Whether the value encodes to at most `max` bytes; it stops encoding past them.
    fn fits(value: &Self::Value, max: usize) -> bool;
}

/// A postcard output that keeps nothing and fails once more than its room is written, so
/// measuring a large value stops early.
struct Room(usize);

impl postcard::ser_flavors::Flavor for Room {
    type Output = ();

    fn try_push(&mut self, _: u8) -> postcard::Result<()> {
        self.try_extend(&[0])
    }

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0 = self
            .0
            .checked_sub(data.len())
            .ok_or(postcard::Error::SerializeBufferFull)?;
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

fn fits(value: &impl Serialize, max: usize) -> bool {
    // A `Serialize` that panics was said when the value failed to store.
    crate::contain::quietly(|| postcard::serialize_with_flavor(value, Room(max)).is_ok())
        .unwrap_or(false)
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

    fn encode(value: &T, site: &'static CallSite) -> Result<Vec<u8>, String> {
        codec::encode(value, &site.state.codec, site.name)
    }

    fn decode(bytes: &[u8], _: Digest) -> Option<T> {
        codec::decode(bytes)
    }

    fn fits(value: &T, max: usize) -> bool {
        fits(value, max)
    }
}

/// A `Memo<T>`, stored as its value; a hit rebuilds it with the stored hash, without
/// hashing the value again.
#[doc(hidden)]
pub struct MemoOf<T>(PhantomData<T>);

impl<T: Storable> Stored for MemoOf<T> {
    type Value = Memo<T>;

    fn encode(value: &Memo<T>, site: &'static CallSite) -> Result<Vec<u8>, String> {
        codec::encode(&**value, &site.state.codec, site.name)
    }

    fn decode(bytes: &[u8], hash: Digest) -> Option<Memo<T>> {
        codec::decode(bytes).map(|value| Memo::from_parts(value, hash))
    }

    fn fits(value: &Memo<T>, max: usize) -> bool {
        fits(&**value, max)
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

impl<T, E> Outcome for Result<T, E> {
    type Ok = T;

    fn stored(&self) -> Option<&T> {
        self.as_ref().ok()
    }

    fn from_stored(value: T) -> Self {
        Ok(value)
    }
}
