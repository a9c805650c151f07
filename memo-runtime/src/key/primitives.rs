//! `CacheKey` for scalars, strings, smart pointers and `Duration`.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::{CacheKey, KeyHasher, tag};

/// Bytes handed to blake3 per call when packing a slice: large enough for its widest SIMD
/// path to hash several 1 KiB chunks at once.
const PACK_BUFFER: usize = 16 * 1024;

/// Writes a slice of fixed-width values as `PACKED`, the element tag and their little-endian
/// bytes. Where memory already holds exactly those bytes (a little-endian target, the same
/// width, no NaN to canonicalise) it is hashed in place; otherwise values are converted
/// through a stack buffer instead of one call per element.
fn write_packed<T: bytemuck::Pod, const W: usize>(
    h: &mut KeyHasher,
    elem_tag: u8,
    items: &[T],
    in_place: impl Fn(&[T]) -> bool,
    to_bytes: impl Fn(T) -> [u8; W],
) {
    h.write_tagged(tag::PACKED, [elem_tag]);
    let same_layout = cfg!(target_endian = "little") && std::mem::size_of::<T>() == W;
    if same_layout && in_place(items) {
        // One update, so blake3 can hash many chunks of it at once.
        h.write_raw(bytemuck::cast_slice(items));
        return;
    }
    let mut buf = [0u8; PACK_BUFFER];
    for chunk in items.chunks(PACK_BUFFER / W) {
        for (dst, &item) in buf.chunks_exact_mut(W).zip(chunk) {
            dst.copy_from_slice(&to_bytes(item));
        }
        h.write_raw(&buf[..chunk.len() * W]);
    }
}

macro_rules! int_keys {
    ($($ty:ty => $tag:ident as $wide:ty),* $(,)?) => {$(
        impl CacheKey for $ty {
            #[inline]
            fn cache_key(&self, h: &mut KeyHasher) {
                h.write_tagged(tag::$tag, (*self as $wide).to_le_bytes());
            }

            fn cache_key_slice(items: &[Self], h: &mut KeyHasher) {
                write_packed(h, tag::$tag, items, |_| true, |x| (x as $wide).to_le_bytes());
            }
        }
    )*};
}

int_keys! {
    u16 => U16 as u16,
    u32 => U32 as u32,
    u64 => U64 as u64,
    usize => U64 as u64,
    u128 => U128 as u128,
    i8 => I8 as i8,
    i16 => I16 as i16,
    i32 => I32 as i32,
    i64 => I64 as i64,
    isize => I64 as i64,
    i128 => I128 as i128,
}

impl CacheKey for u8 {
    #[inline]
    fn cache_key(&self, h: &mut KeyHasher) {
        h.write_tagged(tag::U8, [*self]);
    }

    fn cache_key_slice(items: &[Self], h: &mut KeyHasher) {
        h.write_tagged(tag::PACKED, [tag::U8]);
        h.write_raw(items);
    }
}

/// Floats key by their bits, so `0.0` and `-0.0` differ; every NaN keys as the one
/// canonical NaN, so a NaN argument still finds its stored result.
macro_rules! float_keys {
    ($($ty:ty => $tag:ident),*) => {$(
        impl CacheKey for $ty {
            #[inline]
            fn cache_key(&self, h: &mut KeyHasher) {
                let canonical = if self.is_nan() { <$ty>::NAN } else { *self };
                h.write_tagged(tag::$tag, canonical.to_bits().to_le_bytes());
            }

            fn cache_key_slice(items: &[Self], h: &mut KeyHasher) {
                // A fold, not `any`: without the early exit the scan vectorises.
                let no_nan = |chunk: &[$ty]| !chunk.iter().fold(false, |nan, x| nan | x.is_nan());
                write_packed(h, tag::$tag, items, no_nan, |x| {
                    let canonical = if x.is_nan() { <$ty>::NAN } else { x };
                    canonical.to_bits().to_le_bytes()
                });
            }
        }
    )*};
}

float_keys!(f32 => F32, f64 => F64);

impl CacheKey for bool {
    #[inline]
    fn cache_key(&self, h: &mut KeyHasher) {
        h.write_tagged(tag::BOOL, [u8::from(*self)]);
    }
}

impl CacheKey for char {
    #[inline]
    fn cache_key(&self, h: &mut KeyHasher) {
        h.write_tagged(tag::CHAR, u32::from(*self).to_le_bytes());
    }
}

impl CacheKey for str {
    #[inline]
    fn cache_key(&self, h: &mut KeyHasher) {
        h.write_tag(tag::STR);
        h.write_str_raw(self);
    }
}

impl CacheKey for String {
    #[inline]
    fn cache_key(&self, h: &mut KeyHasher) {
        self.as_str().cache_key(h);
    }
}

impl CacheKey for () {
    #[inline]
    fn cache_key(&self, h: &mut KeyHasher) {
        h.write_tag(tag::UNIT);
    }
}

impl<T: ?Sized> CacheKey for PhantomData<T> {
    #[inline]
    fn cache_key(&self, h: &mut KeyHasher) {
        h.write_tag(tag::UNIT);
    }
}

impl CacheKey for Duration {
    fn cache_key(&self, h: &mut KeyHasher) {
        let mut bytes = [0u8; 12];
        bytes[..8].copy_from_slice(&self.as_secs().to_le_bytes());
        bytes[8..].copy_from_slice(&self.subsec_nanos().to_le_bytes());
        h.write_tagged(tag::DURATION, bytes);
    }
}

/// References and owning pointers are transparent: `&T`, `Box<T>`, `Rc<T>`, `Arc<T>` and
/// `Cow<T>` key as the `T` they point to, so `&str` and `String` share keys.
macro_rules! transparent_keys {
    ($([$($gen:tt)*] $ty:ty),* $(,)?) => {$(
        impl<$($gen)*> CacheKey for $ty {
            #[inline]
            fn cache_key(&self, h: &mut KeyHasher) {
                (**self).cache_key(h);
            }
        }
    )*};
}

transparent_keys! {
    [T: CacheKey + ?Sized] &T,
    [T: CacheKey + ?Sized] &mut T,
    [T: CacheKey + ?Sized] Box<T>,
    [T: CacheKey + ?Sized] Rc<T>,
    [T: CacheKey + ?Sized] Arc<T>,
}

impl<B: CacheKey + ToOwned + ?Sized> CacheKey for Cow<'_, B> {
    #[inline]
    fn cache_key(&self, h: &mut KeyHasher) {
        (**self).cache_key(h);
    }
}
