//! The source text of a function's code, as `#[cached]` carries it into the program: read
//! back to show what changed between two versions (`memo explain --diff`).
//!
//! Each call site carries its own function's text, deflated, and the texts of the reached
//! components that no other function of its crate carries, as frames: a 32-byte
//! [`key`], the deflated length as a little-endian `u32`, the deflate stream. The store
//! keeps each text once under its key, however many versions share it.

use crate::{Component, Digest};

/// No text inflates beyond this: the macro carries at most 64 KiB of one, so more is
/// damage.
const MAX_TEXT: usize = 1 << 20;

/// The key a component's text is kept under: its path and hash, so two items with the
/// same tokens under different names stay apart. The macro's `source::key` is the same.
pub(crate) fn key(path: &str, hash: &Digest) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"memo source v1");
    hasher.update(&(path.len() as u64).to_le_bytes());
    hasher.update(path.as_bytes());
    hasher.update(&hash.0);
    Digest(*hasher.finalize().as_bytes())
}

/// The frames of `bytes`, up to the first damaged one.
pub(crate) fn frames(bytes: &[u8]) -> impl Iterator<Item = (Digest, &[u8])> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        let key = Digest(rest.get(..32)?.try_into().ok()?);
        let len = u32::from_le_bytes(rest.get(32..36)?.try_into().ok()?) as usize;
        let text = rest.get(36..36usize.checked_add(len)?)?;
        rest = &rest[36 + len..];
        Some((key, text))
    })
}

/// A deflated text; `None` if it does not inflate to UTF-8 within bounds.
pub(crate) fn inflate(deflated: &[u8]) -> Option<String> {
    let bytes = miniz_oxide::inflate::decompress_to_vec_with_limit(deflated, MAX_TEXT).ok()?;
    String::from_utf8(bytes).ok()
}

/// Gives each of `components` the text `find` has under its key; whether any had one.
pub(crate) fn attach(
    components: &mut [Component],
    mut find: impl FnMut(&Digest) -> Option<String>,
) -> bool {
    let mut any = false;
    for component in components.iter_mut() {
        if let Some(text) = find(&key(&component.path, &component.hash)) {
            component.source = Some(text);
            any = true;
        }
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deflated(text: &str) -> Vec<u8> {
        miniz_oxide::deflate::compress_to_vec(text.as_bytes(), 6)
    }

    fn framed(list: &[([u8; 32], &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (key, text) in list {
            out.extend_from_slice(key);
            out.extend_from_slice(&(text.len() as u32).to_le_bytes());
            out.extend_from_slice(text);
        }
        out
    }

    #[test]
    fn frames_read_back_and_stop_at_damage() {
        let (a, b) = (deflated("fn a() {}\n"), deflated(""));
        let bytes = framed(&[([1; 32], &a), ([2; 32], &b)]);
        let read: Vec<_> = frames(&bytes).collect();
        assert_eq!(read.len(), 2);
        assert_eq!(inflate(read[0].1).as_deref(), Some("fn a() {}\n"));
        assert_eq!(inflate(read[1].1).as_deref(), Some(""));
        for cut in 0..bytes.len() {
            let read: Vec<_> = frames(&bytes[..cut]).collect();
            assert!(read.len() < 2, "a cut stream yields only whole frames");
        }
        // A frame claiming more than there is ends the stream.
        let mut lying = framed(&[([1; 32], &a)]);
        lying[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(frames(&lying).count(), 0);
    }

    #[test]
    fn damaged_or_foreign_texts_inflate_to_none_never_a_panic() {
        let good = deflated("const B: u8 = 2;\n");
        let mut flipped = good.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0x55;
            let _ = inflate(&flipped);
            flipped[i] ^= 0x55;
        }
        assert!(inflate(&miniz_oxide::deflate::compress_to_vec(&[0xff, 0xfe], 6)).is_none());
        let bomb = miniz_oxide::deflate::compress_to_vec(&vec![b'a'; MAX_TEXT + 1], 6);
        assert!(inflate(&bomb).is_none(), "no text inflates past the bound");
    }

    #[test]
    fn keys_tell_apart_the_same_tokens_under_two_names() {
        let hash = Digest([7; 32]);
        assert_ne!(key("crate::a", &hash), key("crate::b", &hash));
        assert_ne!(key("crate::a", &hash), key("crate::a", &Digest([8; 32])));
    }
}
