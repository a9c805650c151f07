//! `#[derive(CacheKey)]` for memo. Use it through the `memo` crate, which re-exports it.

mod ast;
mod attr;
mod bound;
mod describe;
mod exact;
mod expand;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Implements `memo::CacheKey` for a struct or enum: the type's name, each variant's name and
/// each field's name and value are keyed. See the `memo` crate for the attributes
/// `#[cache_key(skip)]` and `#[cache_key(with = path)]`.
///
/// For a struct without generic parameters, `skip` or `with`, it also compares, hashes and
/// copies the fields for memo's exact path (warm hits without a key stream); that part
/// applies only when every field's type is one the tier knows, and never uses the
/// struct's own `PartialEq`, which need not agree with its key.
///
/// ```
/// #[derive(memo::CacheKey)]
/// enum Mode {
///     Fast,
///     Exact { tolerance: u32 },
/// }
///
/// #[derive(memo::CacheKey)]
/// struct Job {
///     mode: Mode,
///     #[cache_key(skip)]
///     log_level: u8,
/// }
///
/// let a = Job { mode: Mode::Exact { tolerance: 3 }, log_level: 0 };
/// let b = Job { mode: Mode::Exact { tolerance: 3 }, log_level: 9 };
/// let c = Job { mode: Mode::Fast, log_level: 0 };
/// assert_eq!(memo::key_of(&a), memo::key_of(&b), "the log level is not keyed");
/// assert_ne!(memo::key_of(&a), memo::key_of(&c));
/// ```
#[proc_macro_derive(CacheKey, attributes(cache_key))]
pub fn derive_cache_key(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}
