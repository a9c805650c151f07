//! `#[cached]` for memo. Use it through the `memo` crate, which re-exports it.

mod ast;
mod attr;
mod cargo;
mod closure;
mod config;
mod expand;
mod fingerprint;
mod graph;
mod index;
mod source;
mod valid;

use proc_macro::TokenStream;

/// Stores a function's results on disk, keyed by its arguments and a fingerprint of its
/// code. See the `memo` crate for the options and what they mean.
///
/// ```
/// use memo::cached;
///
/// #[cached(ttl = "1h", tags = ["geometry"])]
/// fn hypotenuse(a: f64, b: f64) -> f64 {
///     (a * a + b * b).sqrt()
/// }
///
/// let store = memo::Store::temporary()?;
/// memo::with_store(&store, || {
///     assert_eq!(hypotenuse(3.0, 4.0), 5.0);
///     assert_eq!(hypotenuse(3.0, 4.0), 5.0);
/// });
/// assert_eq!(store.stats()?.hits, 1);
/// assert_eq!(store.invalidate_tag("geometry")?, 1);
/// # Ok::<(), memo::Error>(())
/// ```
#[proc_macro_attribute]
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    let call_site = proc_macro::Span::call_site();
    let origin = expand::Origin {
        file: call_site.local_file().map(resolve),
        line: Some(call_site.line()),
    };
    expand::cached(args.into(), item.into(), &origin).into()
}

/// The compiler names files relative to its working directory (the workspace root) or,
/// for some invocations, to the package.
fn resolve(file: std::path::PathBuf) -> std::path::PathBuf {
    if file.is_absolute() {
        return file;
    }
    let candidates = [
        std::env::current_dir().ok(),
        std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from),
    ];
    candidates
        .into_iter()
        .flatten()
        .map(|base| base.join(&file))
        .find(|path| path.exists())
        .and_then(|path| path.canonicalize().ok())
        .unwrap_or(file)
}
