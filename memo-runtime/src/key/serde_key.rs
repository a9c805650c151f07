//! [`Serde`]: keys any `Serialize` value by walking its serde data model.

use std::fmt;

use serde::ser::{self, Serialize};

use super::{CacheKey, KeyHasher, tag};

/// Keys a value that implements `serde::Serialize` but not [`CacheKey`].
///
/// The value is walked through serde's data model into the key stream — no bytes are
/// serialized into a buffer first. Structs and enum variants are keyed with their names,
/// sequences and maps with delimiters, so the stream stays typed.
///
/// A map is keyed in the order its `Serialize` impl visits it. For a `HashMap` that order
/// depends on the hasher's random state, so two equal maps can give different keys (a
/// spurious miss, never a wrong hit). Key hash maps directly — `HashMap` implements
/// `CacheKey` order-independently — or serialize them as a `BTreeMap`.
///
/// ```
/// use memo::Serde;
///
/// #[derive(serde::Serialize)]
/// struct Config { name: String, level: u8 }
///
/// let a = Serde(Config { name: "a".into(), level: 1 });
/// let b = Serde(Config { name: "a".into(), level: 2 });
/// assert_ne!(memo::key_of(&a), memo::key_of(&b));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Serde<T>(pub T);

impl<T> std::ops::Deref for Serde<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Serialize> CacheKey for Serde<T> {
    fn cache_key(&self, h: &mut KeyHasher) {
        h.write_tag(tag::SERDE);
        if let Err(error) = self.0.serialize(KeySerializer { h: &mut *h }) {
            h.mark_uncacheable(format!("the argument failed to serialize: {error}"));
        }
    }
}

/// The error a `Serialize` impl raised while being keyed.
#[derive(Debug)]
pub struct SerdeKeyError(String);

impl fmt::Display for SerdeKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SerdeKeyError {}

impl ser::Error for SerdeKeyError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        SerdeKeyError(msg.to_string())
    }
}

struct KeySerializer<'a> {
    h: &'a mut KeyHasher,
}

type Done = Result<(), SerdeKeyError>;

impl<'a> ser::Serializer for KeySerializer<'a> {
    type Ok = ();
    type Error = SerdeKeyError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, v: bool) -> Done {
        v.cache_key(self.h);
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Done {
        v.cache_key(self.h);
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Done {
        v.cache_key(self.h);
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Done {
        v.cache_key(self.h);
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Done {
        v.cache_key(self.h);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Done {
        v.cache_key(self.h);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Done {
        v.cache_key(self.h);
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Done {
        v.cache_key(self.h);
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Done {
        v.cache_key(self.h);
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Done {
        v.cache_key(self.h);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Done {
        v.cache_key(self.h);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Done {
        v.cache_key(self.h);
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Done {
        v.cache_key(self.h);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Done {
        v.cache_key(self.h);
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Done {
        v.cache_key(self.h);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Done {
        self.h.write_bytes(v);
        Ok(())
    }
    fn serialize_none(self) -> Done {
        self.h.write_tag(tag::NONE);
        Ok(())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Done {
        self.h.write_tag(tag::SOME);
        value.serialize(self)
    }
    fn serialize_unit(self) -> Done {
        self.h.write_tag(tag::UNIT);
        Ok(())
    }
    fn serialize_unit_struct(self, name: &'static str) -> Done {
        self.h.write_struct(name, 0);
        Ok(())
    }
    fn serialize_unit_variant(self, name: &'static str, _: u32, variant: &'static str) -> Done {
        self.h.write_variant(name, variant, 0);
        Ok(())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        value: &T,
    ) -> Done {
        self.h.write_struct(name, 1);
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Done {
        self.h.write_variant(name, variant, 1);
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, SerdeKeyError> {
        self.h.write_tag(tag::SEQ);
        Ok(self)
    }
    fn serialize_tuple(self, len: usize) -> Result<Self, SerdeKeyError> {
        self.h.write_tag(tag::TUPLE);
        self.h.write_len(len);
        Ok(self)
    }
    fn serialize_tuple_struct(self, name: &'static str, len: usize) -> Result<Self, SerdeKeyError> {
        self.h.write_struct(name, len);
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self, SerdeKeyError> {
        self.h.write_variant(name, variant, len);
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, SerdeKeyError> {
        self.h.write_tag(tag::MAP);
        Ok(self)
    }
    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Self, SerdeKeyError> {
        // Fields a `skip_serializing_if` leaves out make serde's count unreliable, so the
        // fields are delimited by an end tag instead.
        self.h.write_struct(name, 0);
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self, SerdeKeyError> {
        self.h.write_variant(name, variant, 0);
        Ok(self)
    }
}

impl KeySerializer<'_> {
    fn element<T: ?Sized + Serialize>(&mut self, value: &T) -> Done {
        value.serialize(KeySerializer { h: &mut *self.h })
    }

    fn field<T: ?Sized + Serialize>(&mut self, name: &str, value: &T) -> Done {
        self.h.write_field(name);
        self.element(value)
    }

    fn end(self) -> Done {
        self.h.write_tag(tag::SERDE_END);
        Ok(())
    }
}

macro_rules! element_compounds {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for KeySerializer<'_> {
            type Ok = ();
            type Error = SerdeKeyError;

            fn $method<T: ?Sized + Serialize>(&mut self, value: &T) -> Done {
                self.element(value)
            }

            fn end(self) -> Done {
                KeySerializer::end(self)
            }
        }
    )*};
}

element_compounds! {
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
}

impl ser::SerializeMap for KeySerializer<'_> {
    type Ok = ();
    type Error = SerdeKeyError;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Done {
        self.element(key)
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Done {
        self.element(value)
    }

    fn end(self) -> Done {
        KeySerializer::end(self)
    }
}

macro_rules! field_compounds {
    ($($trait:ident),*) => {$(
        impl ser::$trait for KeySerializer<'_> {
            type Ok = ();
            type Error = SerdeKeyError;

            fn serialize_field<T: ?Sized + Serialize>(
                &mut self,
                name: &'static str,
                value: &T,
            ) -> Done {
                self.field(name, value)
            }

            fn end(self) -> Done {
                KeySerializer::end(self)
            }
        }
    )*};
}

field_compounds!(SerializeStruct, SerializeStructVariant);
