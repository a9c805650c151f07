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

use std::io::{self, BufRead, BufReader, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::sink::{Counting, Hashing, Sink, Stage, Written};
use crate::Digest;
use crate::store::{BlobFile, decode_exact};

/// The CBOR of a result stored as CBOR, without its marker; `None` for postcard bytes.
pub(crate) fn cbor_payload(bytes: &[u8]) -> Option<&[u8]> {
    bytes.strip_prefix(&CBOR)
}

/// What begins a result stored as CBOR.
const CBOR: [u8; 8] = [0xFF, b'm', b'e', b'm', b'o', b'C', b'B', 0x01];

/// Why a result was not stored.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Neither codec reads it back; why, to tell the user.
    Unstorable(String),
    /// Its file could not be written.
    Io(io::Error),
}

/// A result's bytes, checked to read back: in memory, or in a finished file of the store.
pub(crate) enum Encoded {
    Bytes(Vec<u8>),
    File(Digest, BlobFile),
}

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

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Postcard,
    Cbor,
}

/// `value`'s bytes, checked to read back; `name` names the function in what is said. An
/// encoding that outgrows memory goes to a file `stage` starts, and is read back from it.
pub(crate) fn encode<T: Serialize + DeserializeOwned>(
    value: &T,
    codec: &Codec,
    name: &str,
    stage: Stage<'_>,
) -> Result<Encoded, Refused> {
    let postcard_problem = if codec.is_self_describing() {
        None
    } else {
        match attempt(value, Format::Postcard, stage).map_err(Refused::Io)? {
            Ok(encoded) => return Ok(encoded),
            Err(problem) => Some(problem),
        }
    };
    let encoded = attempt(value, Format::Cbor, stage)
        .map_err(Refused::Io)?
        .map_err(|problem| {
            Refused::Unstorable(cannot_store(postcard_problem.as_deref(), &problem))
        })?;
    if let Some(problem) = postcard_problem
        && !codec.self_describing.swap(true, Ordering::Relaxed)
    {
        crate::warn::debug(|| {
            format!(
                "`{name}` stores its results as CBOR: postcard cannot read them back ({problem})"
            )
        });
    }
    Ok(encoded)
}

/// `value` encoded in `format` and read back; the outer error is an I/O error writing its
/// file, the inner why `format` cannot store it.
fn attempt<T: Serialize + DeserializeOwned>(
    value: &T,
    format: Format,
    stage: Stage<'_>,
) -> io::Result<Result<Encoded, String>> {
    let mut sink = Sink::new(stage);
    let written = match format {
        Format::Postcard => postcard::to_io(value, &mut sink)
            .map(drop)
            .map_err(|error| error.to_string()),
        Format::Cbor => sink
            .write_all(&CBOR)
            .map_err(|error| error.to_string())
            .and_then(|()| {
                ciborium::into_writer(value, &mut sink).map_err(|error| match error {
                    ciborium::ser::Error::Io(_) => "its bytes could not be written".into(),
                    other => format!("CBOR cannot encode it: {other}"),
                })
            }),
    };
    let marked = format == Format::Postcard && sink.head().starts_with(&CBOR);
    let out = sink.end()?;
    if let Err(problem) = written {
        return Ok(Err(problem));
    }
    if marked {
        return Ok(Err("its bytes begin with CBOR's marker".into()));
    }
    Ok(match out {
        Written::Bytes(bytes) => {
            let check = match format {
                Format::Postcard => postcard_reads_back::<T>(&bytes),
                Format::Cbor => cbor_reads_back::<T>(&bytes),
            };
            check.map(|()| Encoded::Bytes(bytes))
        }
        Written::File(mut staged) => {
            let size = staged.size();
            let mut reader = BufReader::with_capacity(READ_BUFFER, staged.reread()?);
            match stream_reads_back::<T, _>(format, &mut reader, size) {
                Ok(()) => {
                    let (output, file) = staged.finish()?;
                    Ok(Encoded::File(output, file))
                }
                Err(problem) => Err(problem),
            }
        }
    })
}

/// The content hash of `value` encoded as `codec` stores it, computed without keeping the
/// bytes; `None` if it does not encode. What an audit compares results by.
pub(crate) fn digest<T: Serialize>(value: &T, codec: &Codec) -> Option<Digest> {
    let mut out = Hashing(blake3::Hasher::new());
    let encoded = if codec.is_self_describing() {
        out.0.update(&CBOR);
        ciborium::into_writer(value, &mut out).is_ok()
    } else {
        postcard::to_io(value, &mut out).is_ok()
    };
    encoded.then(|| Digest(*out.0.finalize().as_bytes()))
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

/// How much of a file is read at a time.
const READ_BUFFER: usize = 256 << 10;

/// Why a result kept as a file was not read.
pub(crate) enum Unread {
    /// Its bytes do not match their hash: the file is damaged.
    Damaged,
    /// It does not decode as the type asked for, or could not be read.
    Undecodable,
}

/// The value stored in `file`, whose bytes hash to `output`, read as a stream and
/// verified as it is read: the value is the only copy ever in memory.
pub(crate) fn decode_file<T: DeserializeOwned>(
    file: &BlobFile,
    output: &Digest,
) -> Result<T, Unread> {
    let mut reader =
        BufReader::with_capacity(READ_BUFFER, file.open().map_err(|_| Unread::Undecodable)?);
    let value = decode_stream::<T, _>(&mut reader, file.size).ok_or(Unread::Undecodable)?;
    if reader.into_inner().matches(output, file.size) {
        Ok(value)
    } else {
        Err(Unread::Damaged)
    }
}

/// A `T` read from `reader`, which must end where it does; `size` bytes at most.
fn decode_stream<T: DeserializeOwned, R: Read>(reader: &mut BufReader<R>, size: u64) -> Option<T> {
    catch_unwind(AssertUnwindSafe(|| {
        let value = if reader.fill_buf().ok()?.starts_with(&CBOR) {
            reader.consume(CBOR.len());
            ciborium::from_reader(&mut *reader).ok()?
        } else {
            // Strings and byte strings are read into this room; untouched, it costs no
            // memory (the system hands out zeroed pages as they are first written).
            let mut room = vec![0u8; usize::try_from(size).ok()?];
            postcard::from_io((&mut *reader, &mut room[..])).ok()?.0
        };
        reader.fill_buf().ok()?.is_empty().then_some(value)
    }))
    .ok()
    .flatten()
}

fn cannot_store(postcard: Option<&str>, cbor: &str) -> String {
    match postcard {
        Some(postcard) => format!("its result cannot be read back: {postcard}; {cbor}"),
        None => format!("its result cannot be read back: {cbor}"),
    }
}

/// Whether postcard `bytes` decode into a `T` that encodes to as many bytes again: a type
/// postcard cannot describe fails to decode, or decodes into something else.
fn postcard_reads_back<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<(), String> {
    let value: T = match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => value,
        Ok(_) => return Err("postcard reads it back short".into()),
        Err(error) => return Err(format!("postcard cannot read it back: {error}")),
    };
    same_length(&value, Format::Postcard, bytes.len() as u64)
}

fn cbor_reads_back<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<(), String> {
    let Some(value) = decode::<T>(bytes) else {
        return Err("CBOR cannot read it back either".into());
    };
    same_length(&value, Format::Cbor, bytes.len() as u64)
}

/// The check of the two above, for an encoding of `size` bytes in a file.
fn stream_reads_back<T: Serialize + DeserializeOwned, R: Read>(
    format: Format,
    reader: &mut BufReader<R>,
    size: u64,
) -> Result<(), String> {
    let Some(value) = decode_stream::<T, _>(reader, size) else {
        return Err(match format {
            Format::Postcard => "postcard cannot read it back".into(),
            Format::Cbor => "CBOR cannot read it back either".into(),
        });
    };
    same_length(&value, format, size)
}

/// Whether `value`, read back, encodes to `size` bytes again.
fn same_length<T: Serialize>(value: &T, format: Format, size: u64) -> Result<(), String> {
    let mut count = Counting(0);
    let (encoded, name) = match format {
        Format::Postcard => (postcard::to_io(value, &mut count).is_ok(), "postcard"),
        Format::Cbor => {
            count.0 = CBOR.len() as u64;
            (ciborium::into_writer(value, &mut count).is_ok(), "CBOR")
        }
    };
    match encoded {
        true if count.0 == size => Ok(()),
        true => Err(format!("{name} reads it back as another value")),
        false => Err(format!("{name} cannot encode what it read back")),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use serde::{Deserialize, Serialize};

    use super::*;

    /// `value` encoded in memory, or why not.
    fn encode<T: Serialize + DeserializeOwned>(
        value: &T,
        codec: &Codec,
        name: &str,
    ) -> Result<Vec<u8>, String> {
        match super::encode(value, codec, name, None) {
            Ok(Encoded::Bytes(bytes)) => Ok(bytes),
            Ok(Encoded::File(..)) => unreachable!("no file without a stage"),
            Err(Refused::Unstorable(problem)) => Err(problem),
            Err(Refused::Io(error)) => Err(error.to_string()),
        }
    }

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
