//! `#[cached(env = ["VAR"])]`: an environment variable's value, as the call finds it, in
//! the key.

use super::{CacheKey, KeyHasher};

/// Keys the environment variable `name` as it is at this call: its name, then whether it
/// is set and its bytes — unset and set-but-empty are two keys.
///
/// ```
/// use memo::KeyHasher;
///
/// let key = |value: Option<&str>| {
///     // SAFETY: the doctest is one thread.
///     unsafe {
///         match value {
///             Some(v) => std::env::set_var("MEMO_DOC_LANG", v),
///             None => std::env::remove_var("MEMO_DOC_LANG"),
///         }
///     }
///     let mut h = KeyHasher::new();
///     memo::__private::key_env(&mut h, "MEMO_DOC_LANG");
///     h.finish()
/// };
/// assert_ne!(key(None), key(Some("")));
/// assert_ne!(key(Some("en")), key(Some("fr")));
/// assert_eq!(key(Some("en")), key(Some("en")));
/// ```
#[doc(hidden)]
pub fn key_env(key: &mut KeyHasher, name: &str) {
    let value = std::env::var_os(name).map(std::ffi::OsString::into_encoded_bytes);
    key.write_struct("env", 2);
    key.write_field("name");
    name.cache_key(key);
    key.write_field("value");
    value.cache_key(key);
}
