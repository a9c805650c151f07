//! What may key the exact path: values compared, hashed and cloned field by field, so that
//! two values compare equal exactly when their cache keys are equal.

use std::hash::{Hash, Hasher};

/// A type whose values compare equal under `exact_eq` exactly when their cache keys are
/// equal. memo implements it for integers, floats, `bool`, `char`, `String`, `()` and `Option`s,
/// `Vec`s and tuples of such types; `#[derive(CacheKey)]` implements it for a struct
/// without generic parameters, `skip` or `with`, whose fields all implement it.
///
/// Implementing it by hand is a promise that `exact_eq` agrees with the key: the exact
/// tier answers on it without looking at the key.
pub trait ExactKey: 'static {
    /// Whether `self` and `other` have equal cache keys.
    fn exact_eq(&self, other: &Self) -> bool;
    /// Hashes what `exact_eq` compares.
    fn exact_hash<H: Hasher>(&self, state: &mut H);
    /// A copy with the same key.
    fn exact_clone(&self) -> Self
    where
        Self: Sized;
}

macro_rules! by_eq {
    ($($ty:ty),*) => {$(
        impl ExactKey for $ty {
            fn exact_eq(&self, other: &Self) -> bool {
                self == other
            }
            fn exact_hash<H: Hasher>(&self, state: &mut H) {
                self.hash(state);
            }
            fn exact_clone(&self) -> Self {
                self.clone()
            }
        }
    )*};
}

by_eq!(
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    bool,
    char,
    String,
    ()
);

/// Floats compare as their keys do: by bits, every NaN as one (so `0.0` and `-0.0` differ,
/// and a NaN equals a NaN), not as `==` compares them.
macro_rules! by_bits {
    ($($ty:ty),*) => {$(
        impl ExactKey for $ty {
            fn exact_eq(&self, other: &Self) -> bool {
                canonical_bits(*self) == canonical_bits(*other)
            }
            fn exact_hash<H: Hasher>(&self, state: &mut H) {
                canonical_bits(*self).hash(state);
            }
            fn exact_clone(&self) -> Self {
                *self
            }
        }
    )*};
}

by_bits!(f32, f64);

fn canonical_bits(x: impl Into<f64>) -> u64 {
    let x: f64 = x.into();
    if x.is_nan() {
        f64::NAN.to_bits()
    } else {
        x.to_bits()
    }
}

impl<T: ExactKey> ExactKey for Option<T> {
    fn exact_eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Some(a), Some(b)) => a.exact_eq(b),
            (None, None) => true,
            _ => false,
        }
    }
    fn exact_hash<H: Hasher>(&self, state: &mut H) {
        state.write_u8(u8::from(self.is_some()));
        if let Some(value) = self {
            value.exact_hash(state);
        }
    }
    fn exact_clone(&self) -> Self {
        self.as_ref().map(T::exact_clone)
    }
}

impl<T: ExactKey> ExactKey for Vec<T> {
    fn exact_eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| a.exact_eq(b))
    }
    fn exact_hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        self.iter().for_each(|value| value.exact_hash(state));
    }
    fn exact_clone(&self) -> Self {
        self.iter().map(T::exact_clone).collect()
    }
}

macro_rules! tuples {
    ($(($($name:ident $index:tt),+)),*) => {$(
        impl<$($name: ExactKey),+> ExactKey for ($($name,)+) {
            fn exact_eq(&self, other: &Self) -> bool {
                $(self.$index.exact_eq(&other.$index))&&+
            }
            fn exact_hash<H: Hasher>(&self, state: &mut H) {
                $(self.$index.exact_hash(state);)+
            }
            fn exact_clone(&self) -> Self {
                ($(self.$index.exact_clone(),)+)
            }
        }
    )*};
}

tuples!((A 0), (A 0, B 1), (A 0, B 1, C 2), (A 0, B 1, C 2, D 3));

/// [`ExactKey`] as the derive asks for it of each field: the lifetime makes the derive's
/// `where` bounds generic, so a struct with a field that is not exact gets an impl that
/// never applies rather than a compile error.
pub trait ExactField<'a> {
    /// [`ExactKey::exact_eq`].
    fn field_eq(&self, other: &Self) -> bool;
    /// [`ExactKey::exact_hash`].
    fn field_hash<H: Hasher>(&self, state: &mut H);
    /// [`ExactKey::exact_clone`].
    fn field_clone(&self) -> Self
    where
        Self: Sized;
}

impl<T: ExactKey> ExactField<'_> for T {
    fn field_eq(&self, other: &Self) -> bool {
        self.exact_eq(other)
    }
    fn field_hash<H: Hasher>(&self, state: &mut H) {
        self.exact_hash(state);
    }
    fn field_clone(&self) -> Self {
        self.exact_clone()
    }
}

/// The arguments of a call, borrowed: a tuple of references to [`ExactKey`] values.
pub trait ExactArgs {
    /// The arguments, owned, as the table keeps them.
    type Owned: 'static;
    /// Copies the arguments for the table.
    fn to_owned_args(&self) -> Self::Owned;
    /// Whether `owned` are these arguments.
    fn matches(&self, owned: &Self::Owned) -> bool;
    /// Hashes the arguments.
    fn hash_args(&self, state: &mut impl Hasher);
}

macro_rules! exact_args {
    ($(($($name:ident $index:tt),*)),*) => {$(
        impl<'a, $($name: ExactKey),*> ExactArgs for ($(&'a $name,)*) {
            type Owned = ($($name,)*);
            #[allow(clippy::unused_unit)]
            fn to_owned_args(&self) -> Self::Owned {
                ($(self.$index.exact_clone(),)*)
            }
            #[allow(unused_variables)]
            fn matches(&self, owned: &Self::Owned) -> bool {
                true $(&& self.$index.exact_eq(&owned.$index))*
            }
            #[allow(unused_variables)]
            fn hash_args(&self, state: &mut impl Hasher) {
                $(self.$index.exact_hash(state);)*
            }
        }
    )*};
}

exact_args!(
    (),
    (A 0),
    (A 0, B 1),
    (A 0, B 1, C 2),
    (A 0, B 1, C 2, D 3),
    (A 0, B 1, C 2, D 3, E 4),
    (A 0, B 1, C 2, D 3, E 4, F 5)
);
