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
#[proc_macro_derive(CacheKey, attributes(cache_key))]
pub fn derive_cache_key(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}
