//! The one-byte tags that start every value in a key stream.
//!
//! These numbers are part of the on-disk format: changing or reusing one changes keys and
//! needs a format-version bump.

pub const UNIT: u8 = 0x01;
pub const BOOL: u8 = 0x02;
pub const CHAR: u8 = 0x03;
pub const U8: u8 = 0x10;
pub const U16: u8 = 0x11;
pub const U32: u8 = 0x12;
pub const U64: u8 = 0x13;
pub const U128: u8 = 0x14;
pub const I8: u8 = 0x18;
pub const I16: u8 = 0x19;
pub const I32: u8 = 0x1a;
pub const I64: u8 = 0x1b;
pub const I128: u8 = 0x1c;
pub const F32: u8 = 0x20;
pub const F64: u8 = 0x21;
pub const STR: u8 = 0x30;
pub const BYTES: u8 = 0x31;
pub const SEQ: u8 = 0x40;
pub const TUPLE: u8 = 0x41;
pub const MAP: u8 = 0x42;
pub const SET: u8 = 0x43;
pub const UNORDERED_MAP: u8 = 0x44;
pub const UNORDERED_SET: u8 = 0x45;
pub const NONE: u8 = 0x50;
pub const SOME: u8 = 0x51;
pub const OK: u8 = 0x52;
pub const ERR: u8 = 0x53;
pub const STRUCT: u8 = 0x60;
pub const VARIANT: u8 = 0x61;
pub const FIELD: u8 = 0x62;
pub const PATH: u8 = 0x70;
pub const DURATION: u8 = 0x71;
pub const FILE_CONTENT: u8 = 0x72;
pub const FILE: u8 = 0x73;
pub const DIR: u8 = 0x74;
pub const MISSING: u8 = 0x75;
pub const SERDE: u8 = 0x80;
pub const SERDE_END: u8 = 0x81;
pub const MEMO: u8 = 0x90;
/// A packed slice of fixed-width primitives follows: `PACKED`, the element tag, raw bytes.
pub const PACKED: u8 = 0xf0;
