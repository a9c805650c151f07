//! `#[cached]` for memo. Use it through the `memo` crate, which re-exports it.

mod ast;
mod attr;
mod expand;
mod fingerprint;
mod valid;

use proc_macro::TokenStream;

/// Stores a function's results on disk, keyed by its arguments and a fingerprint of its
/// code. See the `memo` crate for the options and what they mean.
#[proc_macro_attribute]
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::cached(args.into(), item.into()).into()
}
