//! The source text of a function's components, packed into its `CallSite` so that the
//! store can keep the code of every version it sees (`memo explain --diff`).
//!
//! The pack is a format byte, then a raw deflate stream of frames, one for each component
//! that has text: its 32-byte hash, its length as a little-endian `u32`, and its UTF-8
//! bytes. Frames are keyed by hash, so the reader matches them to components whatever
//! their order, and one text shared by two components is packed once. The runtime's
//! `code` module reads it.

use std::collections::HashSet;

use crate::fingerprint::Component;

/// The pack's format; the runtime refuses any other.
const FORMAT: u8 = 1;
/// No component's text is packed beyond this many bytes (an included data file, a
/// generated table): a diff of it would not be read.
pub const MAX_TEXT: usize = 64 * 1024;
/// Nor more than this in all, so a function reaching half a package stays cheap.
const MAX_TOTAL: usize = 1 << 20;

/// The pack of `components`' texts; empty if none has one.
pub fn pack(components: &[Component]) -> Vec<u8> {
    let mut frames = Vec::new();
    let mut seen = HashSet::new();
    for component in components {
        let Some(text) = &component.source else {
            continue;
        };
        if text.len() > MAX_TEXT
            || frames.len() + text.len() > MAX_TOTAL
            || !seen.insert(component.hash)
        {
            continue;
        }
        frames.extend_from_slice(&component.hash);
        frames.extend_from_slice(&(text.len() as u32).to_le_bytes());
        frames.extend_from_slice(text.as_bytes());
    }
    if frames.is_empty() {
        return Vec::new();
    }
    let mut out = vec![FORMAT];
    // Level 6: source text shrinks about fourfold, in well under a millisecond a function.
    out.extend(miniz_oxide::deflate::compress_to_vec(&frames, 6));
    out
}
