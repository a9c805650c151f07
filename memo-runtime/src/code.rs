//! The source text of a function's code, as `#[cached]` packs it into the function's call
//! site: read back to show what changed between two versions (`memo explain --diff`).
//!
//! A pack is a format byte, then a raw deflate stream of frames: a component's 32-byte
//! hash, its text's length as a little-endian `u32`, the UTF-8 text. The macro writes it;
//! the store keeps it, untouched, once per fingerprint.

use std::collections::HashMap;

use crate::{Component, Digest};

/// The pack's format, as the macro writes it.
const FORMAT: u8 = 1;
/// No pack unpacks beyond this: the macro packs at most 1 MiB, so more is damage.
const MAX_UNPACKED: usize = 4 << 20;

/// The texts of a pack by component hash; `None` if it is empty, of another format or
/// damaged.
pub(crate) fn unpack(pack: &[u8]) -> Option<HashMap<Digest, String>> {
    let (&format, deflated) = pack.split_first()?;
    if format != FORMAT {
        return None;
    }
    let frames =
        miniz_oxide::inflate::decompress_to_vec_with_limit(deflated, MAX_UNPACKED).ok()?;
    let mut texts = HashMap::new();
    let mut rest = &frames[..];
    while !rest.is_empty() {
        let hash = Digest(rest.get(..32)?.try_into().ok()?);
        let len = u32::from_le_bytes(rest.get(32..36)?.try_into().ok()?) as usize;
        let text = rest.get(36..36usize.checked_add(len)?)?;
        texts.insert(hash, String::from_utf8(text.to_vec()).ok()?);
        rest = &rest[36 + len..];
    }
    Some(texts)
}

/// Gives each of `components` its text from `pack`; whether the pack could be read.
pub(crate) fn attach(components: &mut [Component], pack: &[u8]) -> bool {
    let Some(mut texts) = unpack(pack) else {
        return false;
    };
    for component in components.iter_mut() {
        if let Some(text) = texts.get(&component.hash) {
            component.source = Some(text.clone());
        }
    }
    texts.clear();
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(frames: &[([u8; 32], &str)]) -> Vec<u8> {
        let mut raw = Vec::new();
        for (hash, text) in frames {
            raw.extend_from_slice(hash);
            raw.extend_from_slice(&(text.len() as u32).to_le_bytes());
            raw.extend_from_slice(text.as_bytes());
        }
        let mut out = vec![FORMAT];
        out.extend(miniz_oxide::deflate::compress_to_vec(&raw, 6));
        out
    }

    #[test]
    fn texts_come_back_by_hash() {
        let texts = unpack(&pack(&[([1; 32], "fn a() {}\n"), ([2; 32], "")])).unwrap();
        assert_eq!(texts[&Digest([1; 32])], "fn a() {}\n");
        assert_eq!(texts[&Digest([2; 32])], "");
        assert_eq!(texts.len(), 2);
    }

    #[test]
    fn damaged_packs_read_as_none_never_a_panic() {
        let good = pack(&[([1; 32], "fn a() {}\n"), ([2; 32], "const B: u8 = 2;\n")]);
        assert!(unpack(&[]).is_none());
        assert!(unpack(&[9, 1, 2, 3]).is_none(), "another format");
        for cut in 1..good.len() {
            // Whatever a cut pack yields, it is never more than what was packed.
            if let Some(texts) = unpack(&good[..cut]) {
                assert!(texts.len() < 2);
            }
        }
        let mut flipped = good.clone();
        for i in 1..flipped.len() {
            flipped[i] ^= 0x55;
            let _ = unpack(&flipped);
            flipped[i] ^= 0x55;
        }
        // A frame claiming more than the stream holds.
        let mut raw = vec![1u8; 32];
        raw.extend_from_slice(&u32::MAX.to_le_bytes());
        let mut lying = vec![FORMAT];
        lying.extend(miniz_oxide::deflate::compress_to_vec(&raw, 6));
        assert!(unpack(&lying).is_none());
        // Not UTF-8.
        let mut raw = vec![1u8; 32];
        raw.extend_from_slice(&2u32.to_le_bytes());
        raw.extend_from_slice(&[0xff, 0xfe]);
        let mut bad = vec![FORMAT];
        bad.extend(miniz_oxide::deflate::compress_to_vec(&raw, 6));
        assert!(unpack(&bad).is_none());
    }
}
