//! `Digest`: the 32-byte blake3 value used for keys, content hashes and fingerprints.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A 32-byte blake3 digest: a cache key, the content hash of a stored result, or a code
/// fingerprint.
///
/// It prints as 64 lowercase hex digits and parses back from them.
///
/// ```
/// use memo::Digest;
///
/// let d = Digest::of_bytes(b"hello");
/// let text = d.to_string();
/// assert_eq!(text.len(), 64);
/// assert_eq!(text.parse::<Digest>().unwrap(), d);
/// assert!(text.starts_with(&d.short()));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The blake3 hash of `bytes`: how a stored result's content hash is computed.
    ///
    /// ```
    /// assert_eq!(memo::Digest::of_bytes(b"x"), memo::Digest::of_bytes(b"x"));
    /// assert_ne!(memo::Digest::of_bytes(b"x"), memo::Digest::of_bytes(b"y"));
    /// ```
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        Digest(*blake3::hash(bytes).as_bytes())
    }

    /// The raw 32 bytes.
    ///
    /// ```
    /// assert_eq!(memo::Digest([7; 32]).as_bytes(), &[7; 32]);
    /// ```
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 12 hex digits, for display in tables and logs.
    ///
    /// ```
    /// assert_eq!(memo::Digest([0xab; 32]).short(), "abababababab");
    /// ```
    pub fn short(&self) -> String {
        let mut s = self.to_string();
        s.truncate(12);
        s
    }
}

impl AsRef<[u8]> for Digest {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<blake3::Hash> for Digest {
    fn from(hash: blake3::Hash) -> Digest {
        Digest(*hash.as_bytes())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// The error of parsing a [`Digest`] from text that is not 64 hex digits.
///
/// ```
/// let error = "not hex".parse::<memo::Digest>().unwrap_err();
/// assert!(!error.to_string().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDigestError;

impl fmt::Display for ParseDigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a digest is 64 hexadecimal digits")
    }
}

impl std::error::Error for ParseDigestError {}

impl FromStr for Digest {
    type Err = ParseDigestError;

    fn from_str(s: &str) -> Result<Digest, ParseDigestError> {
        let s = s.as_bytes();
        if s.len() != 64 {
            return Err(ParseDigestError);
        }
        let mut out = [0u8; 32];
        for (i, pair) in s.chunks_exact(2).enumerate() {
            let hi = hex_value(pair[0]).ok_or(ParseDigestError)?;
            let lo = hex_value(pair[1]).ok_or(ParseDigestError)?;
            out[i] = (hi << 4) | lo;
        }
        Ok(Digest(out))
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}
