//! How a result becomes bytes and back: postcard, compact and fast, for every type it can
//! read back; CBOR, which describes itself, for the types postcard cannot
//! (`serde_json::Value`, untagged and internally tagged enums, `#[serde(flatten)]`).
//!
//! Every result is read back as it is stored: decoded, and encoded again to the same
//! length. One that postcard cannot read back is stored as CBOR behind a marker, and so is
//! every later result of that function in this process. The marker is in the bytes, so an
//! entry says how to read itself wherever its bytes travel (the memory tiers, another
//! process); postcard bytes that happen to begin with it are stored as CBOR too, so the
//! marker is never ambiguous. Entries written before CBOR existed have no marker and read
//! as postcard.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::decode_exact;

/// The CBOR of a result stored as CBOR, without its marker; `None` for postcard bytes.
pub(crate) fn cbor_payload(bytes: &[u8]) -> Option<&[u8]> {
    bytes.strip_prefix(&CBOR)
}

/// What begins a result stored as CBOR.
const CBOR: [u8; 8] = [0xFF, b'm', b'e', b'm', b'o', b'C', b'B', 0x01];

/// Why a result could not be stored.
pub(crate) type Unstorable = String;

/// A function's choice of codec in this process: postcard until one of its results needs
/// CBOR.
#[derive(Debug, Default)]
pub(crate) struct Codec {
    self_describing: AtomicBool,
}

impl Codec {
    pub(crate) const fn new() -> Codec {
        Codec {
            self_describing: AtomicBool::new(false),
        }
    }

    /// Whether this function's results are stored as CBOR.
    pub(crate) fn is_self_describing(&self) -> bool {
        self.self_describing.load(Ordering::Relaxed)
    }
}

/// `value`'s bytes, checked to read back; `name` names the function in what is said.
pub(crate) fn encode<T: Serialize + DeserializeOwned>(
    value: &T,
    codec: &Codec,
    name: &str,
) -> Result<Vec<u8>, Unstorable> {
    let postcard_problem = if codec.is_self_describing() {
        None
    } else {
        match postcard::to_stdvec(value) {
            Ok(bytes) if bytes.starts_with(&CBOR) => {
                Some("its bytes begin with CBOR's marker".into())
            }
            Ok(bytes) => match postcard_reads_back::<T>(&bytes) {
                Ok(()) => return Ok(bytes),
                Err(problem) => Some(problem),
            },
            Err(error) => Some(error.to_string()),
        }
    };
    let bytes = cbor(value).map_err(|error| {
        cannot_store(
            postcard_problem.as_deref(),
            &format!("CBOR cannot encode it: {error}"),
        )
    })?;
    cbor_reads_back::<T>(&bytes)
        .map_err(|problem| cannot_store(postcard_problem.as_deref(), &problem))?;
    if let Some(problem) = postcard_problem
        && !codec.self_describing.swap(true, Ordering::Relaxed)
    {
        crate::warn::debug(|| {
            format!(
                "`{name}` stores its results as CBOR: postcard cannot read them back ({problem})"
            )
        });
    }
    Ok(bytes)
}

/// The value stored as `bytes`, or `None` if they do not read back as a `T` (its type
/// changed). A `Deserialize` that panics is a miss too.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    catch_unwind(AssertUnwindSafe(|| match cbor_payload(bytes) {
        Some(mut rest) => {
            let value = ciborium::from_reader(&mut rest).ok()?;
            rest.is_empty().then_some(value)
        }
        None => decode_exact(bytes),
    }))
    .ok()
    .flatten()
}

fn cannot_store(postcard: Option<&str>, cbor: &str) -> Unstorable {
    match postcard {
        Some(postcard) => format!("its result cannot be read back: {postcard}; {cbor}"),
        None => format!("its result cannot be read back: {cbor}"),
    }
}

fn cbor<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    let mut bytes = CBOR.to_vec();
    ciborium::into_writer(value, &mut bytes).map_err(|error| error.to_string())?;
    Ok(bytes)
}

/// Whether postcard `bytes` decode into a `T` that encodes to as many bytes again: a type
/// postcard cannot describe fails to decode, or decodes into something else.
fn postcard_reads_back<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<(), String> {
    let value: T = match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => value,
        Ok(_) => return Err("postcard reads it back short".into()),
        Err(error) => return Err(format!("postcard cannot read it back: {error}")),
    };
    let again = postcard::serialize_with_flavor(&value, Count(0))
        .map_err(|error| format!("postcard cannot encode what it read back: {error}"))?;
    if again == bytes.len() {
        Ok(())
    } else {
        Err("postcard reads it back as another value".into())
    }
}

fn cbor_reads_back<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<(), String> {
    let Some(value) = decode::<T>(bytes) else {
        return Err("CBOR cannot read it back either".into());
    };
    match cbor(&value) {
        Ok(again) if again.len() == bytes.len() => Ok(()),
        _ => Err("CBOR reads it back as another value".into()),
    }
}

/// A postcard output that only counts.
struct Count(usize);

impl postcard::ser_flavors::Flavor for Count {
    type Output = usize;

    fn try_push(&mut self, _: u8) -> postcard::Result<()> {
        self.0 += 1;
        Ok(())
    }

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0 += data.len();
        Ok(())
    }

    fn finalize(self) -> postcard::Result<usize> {
        Ok(self.0)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use serde::{Deserialize, Serialize};

    use super::*;

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
        value: T,
        self_describing: bool,
    ) {
        let codec = Codec::new();
        let bytes = encode(&value, &codec, "f").unwrap();
        assert_eq!(bytes.starts_with(&CBOR), self_describing, "{value:?}");
        assert_eq!(codec.is_self_describing(), self_describing);
        assert_eq!(decode::<T>(&bytes), Some(value));
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(untagged)]
    enum Untagged {
        Number(u32),
        Text(String),
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "type")]
    enum Internal {
        Circle { r: u32 },
        Square { side: u32 },
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Flat {
        id: u32,
        #[serde(flatten)]
        rest: BTreeMap<String, u32>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sparse {
        #[serde(skip_serializing_if = "Option::is_none")]
        a: Option<u8>,
        b: u8,
    }

    #[test]
    fn what_postcard_reads_back_stays_postcard() {
        round_trip(vec![1_u64, 2, 3], false);
        round_trip("text".to_owned(), false);
        round_trip(
            HashMap::from([(1_u32, "a".to_owned()), (2, "b".to_owned())]),
            false,
        );
        round_trip(f64::NAN.to_bits(), false);
    }

    #[test]
    fn what_postcard_cannot_read_back_is_cbor() {
        round_trip(Untagged::Text("x".into()), true);
        round_trip(vec![Untagged::Number(1), Untagged::Text("y".into())], true);
        round_trip(Internal::Square { side: 3 }, true);
        round_trip(
            Flat {
                id: 1,
                rest: BTreeMap::from([("k".into(), 2)]),
            },
            true,
        );
        round_trip(Sparse { a: None, b: 1 }, true);
    }

    #[test]
    fn a_function_that_needed_cbor_keeps_it_and_postcard_entries_still_read() {
        let codec = Codec::new();
        let old = postcard::to_stdvec(&Sparse { a: Some(1), b: 2 }).unwrap();
        encode(&Sparse { a: None, b: 1 }, &codec, "f").unwrap();
        let next = encode(&Sparse { a: Some(1), b: 2 }, &codec, "f").unwrap();
        assert!(next.starts_with(&CBOR));
        assert_eq!(decode::<Sparse>(&old), Some(Sparse { a: Some(1), b: 2 }));
        assert_eq!(decode::<Sparse>(&next), Some(Sparse { a: Some(1), b: 2 }));
    }

    #[test]
    fn postcard_bytes_that_look_like_cbor_are_stored_as_cbor() {
        // A fixed array is its bytes in postcard: these begin with the marker.
        let value: ([u8; 8], u8) = (CBOR, 7);
        assert!(postcard::to_stdvec(&value).unwrap().starts_with(&CBOR));
        round_trip(value, true);
    }

    #[test]
    fn a_type_neither_codec_reads_back_is_unstorable() {
        struct Lies;
        impl Serialize for Lies {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_u8(1)
            }
        }
        impl<'de> Deserialize<'de> for Lies {
            fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
                Err(serde::de::Error::custom("never"))
            }
        }
        let problem = encode(&Lies, &Codec::new(), "f").unwrap_err();
        assert!(problem.contains("cannot be read back"), "{problem}");
    }

    #[test]
    fn a_serialize_that_fails_is_unstorable_with_its_reason() {
        struct Refuses;
        impl Serialize for Refuses {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no network in serialize"))
            }
        }
        impl<'de> Deserialize<'de> for Refuses {
            fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
                Ok(Refuses)
            }
        }
        let problem = encode(&Refuses, &Codec::new(), "f").unwrap_err();
        assert!(problem.contains("no network in serialize"), "{problem}");
    }

    #[test]
    fn damaged_cbor_is_a_miss() {
        let bytes = encode(&Internal::Circle { r: 2 }, &Codec::new(), "f").unwrap();
        assert_eq!(decode::<Internal>(&bytes[..bytes.len() - 1]), None);
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode::<Internal>(&longer), None);
    }
}
