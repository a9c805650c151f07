//! Calls of plain words: up to two arguments that are integers, `bool` or `char`, and a
//! result that is a number, `bool`, `char` or `()`. The in-memory tier keeps such a call as
//! four words, its arguments' and its result's, in a table a hit reads without a lock or a
//! write, and copies them out: no allocation to share, no reference count to touch.
//!
//! Every conversion is total: a word read back as a `bool` or a `char` that it could not
//! have been written from is still a valid value (never undefined behaviour), though a
//! function's entries are only ever written from its own types.

use super::{ExactArgs, ExactKey};

/// An argument kept as one word, whose words are equal exactly when the cache keys are:
/// integers of up to 64 bits, `bool`, `char` (not floats: their keys treat every NaN as
/// one).
pub trait KeyWord: ExactKey + Copy {
    /// The word.
    fn key_word(self) -> u64;
}

/// A result kept as two words and read back from them whole.
pub trait ValueWords: Copy + Send + Sync + 'static {
    /// How many of the two words it uses.
    const WORDS: usize = 1;
    /// The words.
    fn to_words(self) -> [u64; 2];
    /// The value the words were made from.
    fn from_words(words: [u64; 2]) -> Self;
}

macro_rules! integers {
    ($($ty:ty),*) => {$(
        impl KeyWord for $ty {
            #[inline]
            fn key_word(self) -> u64 {
                self as u64
            }
        }
        impl ValueWords for $ty {
            #[inline]
            fn to_words(self) -> [u64; 2] {
                [self as u64, 0]
            }
            #[inline]
            fn from_words(words: [u64; 2]) -> Self {
                words[0] as $ty
            }
        }
    )*};
}

integers!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

impl KeyWord for bool {
    #[inline]
    fn key_word(self) -> u64 {
        u64::from(self)
    }
}

impl ValueWords for bool {
    #[inline]
    fn to_words(self) -> [u64; 2] {
        [u64::from(self), 0]
    }
    #[inline]
    fn from_words(words: [u64; 2]) -> Self {
        words[0] != 0
    }
}

impl KeyWord for char {
    #[inline]
    fn key_word(self) -> u64 {
        u64::from(self)
    }
}

impl ValueWords for char {
    #[inline]
    fn to_words(self) -> [u64; 2] {
        [u64::from(self), 0]
    }
    #[inline]
    fn from_words(words: [u64; 2]) -> Self {
        u32::try_from(words[0])
            .ok()
            .and_then(char::from_u32)
            .unwrap_or_default()
    }
}

impl ValueWords for f64 {
    #[inline]
    fn to_words(self) -> [u64; 2] {
        [self.to_bits(), 0]
    }
    #[inline]
    fn from_words(words: [u64; 2]) -> Self {
        f64::from_bits(words[0])
    }
}

impl ValueWords for f32 {
    #[inline]
    fn to_words(self) -> [u64; 2] {
        [u64::from(self.to_bits()), 0]
    }
    #[inline]
    fn from_words(words: [u64; 2]) -> Self {
        f32::from_bits(words[0] as u32)
    }
}

impl ValueWords for u128 {
    const WORDS: usize = 2;
    #[inline]
    fn to_words(self) -> [u64; 2] {
        [self as u64, (self >> 64) as u64]
    }
    #[inline]
    fn from_words(words: [u64; 2]) -> Self {
        u128::from(words[0]) | (u128::from(words[1]) << 64)
    }
}

impl ValueWords for i128 {
    const WORDS: usize = 2;
    #[inline]
    fn to_words(self) -> [u64; 2] {
        (self as u128).to_words()
    }
    #[inline]
    fn from_words(words: [u64; 2]) -> Self {
        u128::from_words(words) as i128
    }
}

impl ValueWords for () {
    const WORDS: usize = 0;
    #[inline]
    fn to_words(self) -> [u64; 2] {
        [0, 0]
    }
    #[inline]
    fn from_words(_: [u64; 2]) -> Self {}
}

/// Arguments kept as two words: none, one or two [`KeyWord`]s. A function's arity and
/// types are fixed, so the words of two calls are equal exactly when their arguments are.
pub trait WordArgs: ExactArgs {
    /// How many of the two words they use: one for each argument.
    const WORDS: usize;
    /// The words.
    fn key_words(&self) -> [u64; 2];
}

impl WordArgs for () {
    const WORDS: usize = 0;
    #[inline]
    fn key_words(&self) -> [u64; 2] {
        [0, 0]
    }
}

impl<A: KeyWord> WordArgs for (&A,) {
    const WORDS: usize = 1;
    #[inline]
    fn key_words(&self) -> [u64; 2] {
        [self.0.key_word(), 0]
    }
}

impl<'a, A: KeyWord, B: KeyWord> WordArgs for (&'a A, &'a B) {
    const WORDS: usize = 2;
    #[inline]
    fn key_words(&self) -> [u64; 2] {
        [self.0.key_word(), self.1.key_word()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: ValueWords + PartialEq + std::fmt::Debug>(values: &[T]) {
        for value in values {
            assert_eq!(T::from_words(value.to_words()), *value);
        }
    }

    #[test]
    fn every_value_reads_back_as_itself() {
        round_trip(&[0u8, 1, u8::MAX]);
        round_trip(&[i8::MIN, -1, 0, i8::MAX]);
        round_trip(&[i32::MIN, -7, i32::MAX]);
        round_trip(&[u64::MAX, 0, 42]);
        round_trip(&[i64::MIN, -1, i64::MAX]);
        round_trip(&[isize::MIN, usize::MAX as isize]);
        round_trip(&[u128::MAX, 1 << 100, 3]);
        round_trip(&[i128::MIN, -1, i128::MAX]);
        round_trip(&[true, false]);
        round_trip(&['a', '\u{10FFFF}', '\0']);
        round_trip(&[0.0f64, -0.0, f64::INFINITY, 1.5e-300]);
        round_trip(&[0.5f32, -0.0, f32::MAX]);
        round_trip(&[()]);
        let nan = f64::from_bits(0x7ff8_0000_dead_beef);
        assert_eq!(f64::from_words(nan.to_words()).to_bits(), nan.to_bits());
    }

    #[test]
    fn words_are_equal_exactly_when_the_arguments_are() {
        assert_ne!((&-1i32,).key_words(), (&1i32,).key_words());
        assert_ne!((&1u8, &2u8).key_words(), (&2u8, &1u8).key_words());
        assert_eq!((&7u64, &'x').key_words(), (&7u64, &'x').key_words());
        assert_ne!((&true,).key_words(), (&false,).key_words());
        // Words that no `bool` or `char` was written from still read as a valid value.
        assert!(bool::from_words([2, 0]));
        assert_eq!(char::from_words([0xD800, 0]), '\0');
    }
}
