//! The source text of what a function's fingerprint is made of, carried into the program
//! so that the store can keep the code of every version it sees (`memo explain --diff`).
//!
//! Each text is deflated once per compiler process and carried once per crate: by the
//! call site of the first `#[cached]` function expanded that reaches it. The runtime
//! gathers every call site's texts into one table (`code` in the runtime), so a helper
//! that 200 functions reach costs the binary one copy, and the macro one compression.
//!
//! A site's texts are frames: a 32-byte [`key`], the deflated length as a little-endian
//! `u32`, the raw deflate stream of the UTF-8 text.

use std::collections::HashSet;
use std::sync::Mutex;

use crate::fingerprint::Component;

/// No component's text is carried beyond this many bytes (an included data file, a
/// generated table): a diff of it would not be read.
pub const MAX_TEXT: usize = 64 * 1024;
/// Nor more than this for one crate, so a binary never grows without bound.
const MAX_CRATE: usize = 16 << 20;

/// What this compiler process has carried, for the crate it compiles (one crate a process
/// under rustc; keyed anyway, for tools that expand many crates in one).
struct Carried {
    krate: String,
    keys: HashSet<[u8; 32]>,
    bytes: usize,
}

static CARRIED: Mutex<Option<Carried>> = Mutex::new(None);

/// The key a text is kept under, in the program and in the store: the component's path
/// and hash, so two items with the same tokens under different names stay apart. The
/// runtime's `code::key` is the same function.
pub fn key(path: &str, hash: &[u8; 32]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"memo source v1");
    hasher.update(&(path.len() as u64).to_le_bytes());
    hasher.update(path.as_bytes());
    hasher.update(hash);
    *hasher.finalize().as_bytes()
}

/// One text, deflated.
pub fn deflate(text: &str) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec(text.as_bytes(), 6)
}

/// The frames of `reached`'s texts that no function of this crate carries yet, marked
/// carried unless `conditional` (a function under a `cfg` of its own may be compiled out,
/// and what it carries with it: then the next function carries the same texts again).
pub fn frames(reached: &[Component], conditional: bool) -> Vec<u8> {
    let krate = format!(
        "{}\0{}",
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default(),
        std::env::var("CARGO_CRATE_NAME").unwrap_or_default()
    );
    let mut carried = CARRIED.lock().unwrap_or_else(|p| p.into_inner());
    if carried.as_ref().is_none_or(|c| c.krate != krate) {
        *carried = Some(Carried {
            krate,
            keys: HashSet::new(),
            bytes: 0,
        });
    }
    let carried = carried.as_mut().expect("set above");
    let mut out = Vec::new();
    let mut here = HashSet::new();
    for component in reached {
        let Some(text) = &component.source else {
            continue;
        };
        let key = key(&component.path, &component.hash);
        if text.len() > MAX_TEXT
            || carried.bytes + text.len() > MAX_CRATE
            || carried.keys.contains(&key)
            || !here.insert(key)
        {
            continue;
        }
        let deflated = deflate(text);
        out.extend_from_slice(&key);
        out.extend_from_slice(&(deflated.len() as u32).to_le_bytes());
        out.extend_from_slice(&deflated);
        if !conditional {
            carried.bytes += text.len();
            carried.keys.insert(key);
        }
    }
    out
}
