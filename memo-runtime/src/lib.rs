//! The runtime of [memo](https://docs.rs/memo): the cache-key protocol.
//!
//! Users depend on the `memo` facade, which re-exports what is public here; this crate holds
//! the code so that the proc-macro crates and the facade can share it.
//!
//! A key is a blake3 digest of a typed, length-prefixed stream: every value begins with a
//! tag naming its kind, variable-length values carry their length, and enum variants and
//! struct fields carry their names. Two values of different shape therefore never feed the
//! same stream, and the digest of a value is the same on every platform and in every run.

#![warn(missing_docs)]

mod digest;
mod key;

pub use digest::{Digest, ParseDigestError};
pub use key::{CacheKey, FileContent, KEY_FORMAT_VERSION, KeyHasher, Serde, key_of};
