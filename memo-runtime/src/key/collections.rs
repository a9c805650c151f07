//! `CacheKey` for slices, arrays, tuples, `Option`, `Result` and the std collections.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use super::{CacheKey, KeyHasher, tag};
use crate::Digest;

impl<T: CacheKey> CacheKey for [T] {
    fn cache_key(&self, h: &mut KeyHasher) {
        h.write_tag(tag::SEQ);
        h.write_len(self.len());
        T::cache_key_slice(self, h);
    }
}

impl<T: CacheKey, const N: usize> CacheKey for [T; N] {
    fn cache_key(&self, h: &mut KeyHasher) {
        self.as_slice().cache_key(h);
    }
}

impl<T: CacheKey> CacheKey for Vec<T> {
    fn cache_key(&self, h: &mut KeyHasher) {
        self.as_slice().cache_key(h);
    }
}

/// A `VecDeque` keys element by element, so two equal deques key the same however their
/// ring buffers are laid out.
impl<T: CacheKey> CacheKey for VecDeque<T> {
    fn cache_key(&self, h: &mut KeyHasher) {
        h.write_tag(tag::SEQ);
        h.write_len(self.len());
        for item in self {
            item.cache_key(h);
        }
    }
}

impl<T: CacheKey> CacheKey for Option<T> {
    fn cache_key(&self, h: &mut KeyHasher) {
        match self {
            None => h.write_tag(tag::NONE),
            Some(value) => {
                h.write_tag(tag::SOME);
                value.cache_key(h);
            }
        }
    }
}

impl<T: CacheKey, E: CacheKey> CacheKey for Result<T, E> {
    fn cache_key(&self, h: &mut KeyHasher) {
        match self {
            Ok(value) => {
                h.write_tag(tag::OK);
                value.cache_key(h);
            }
            Err(error) => {
                h.write_tag(tag::ERR);
                error.cache_key(h);
            }
        }
    }
}

macro_rules! tuple_keys {
    ($($len:literal => ($($name:ident),+)),* $(,)?) => {$(
        impl<$($name: CacheKey),+> CacheKey for ($($name,)+) {
            #[allow(non_snake_case)]
            fn cache_key(&self, h: &mut KeyHasher) {
                let ($($name,)+) = self;
                h.write_tagged(tag::TUPLE, [$len]);
                $($name.cache_key(h);)+
            }
        }
    )*};
}

tuple_keys! {
    1 => (A),
    2 => (A, B),
    3 => (A, B, C),
    4 => (A, B, C, D),
    5 => (A, B, C, D, E),
    6 => (A, B, C, D, E, F),
    7 => (A, B, C, D, E, F, G),
    8 => (A, B, C, D, E, F, G, H),
    9 => (A, B, C, D, E, F, G, H, I),
    10 => (A, B, C, D, E, F, G, H, I, J),
    11 => (A, B, C, D, E, F, G, H, I, J, K),
    12 => (A, B, C, D, E, F, G, H, I, J, K, L),
}

impl<K: CacheKey, V: CacheKey> CacheKey for BTreeMap<K, V> {
    fn cache_key(&self, h: &mut KeyHasher) {
        h.write_tag(tag::MAP);
        h.write_len(self.len());
        for (key, value) in self {
            key.cache_key(h);
            value.cache_key(h);
        }
    }
}

impl<T: CacheKey> CacheKey for BTreeSet<T> {
    fn cache_key(&self, h: &mut KeyHasher) {
        h.write_tag(tag::SET);
        h.write_len(self.len());
        for item in self {
            item.cache_key(h);
        }
    }
}

/// Keys an unordered collection: each element is keyed on its own, and the sorted digests
/// are fed in, so iteration order never matters.
fn write_unordered<I>(h: &mut KeyHasher, kind: u8, len: usize, items: I)
where
    I: Iterator,
    I::Item: FnOnce(&mut KeyHasher),
{
    let mut digests: Vec<Digest> = Vec::with_capacity(len);
    for write in items {
        let mut element = KeyHasher::new();
        write(&mut element);
        if let Some(reason) = element.uncacheable() {
            h.mark_uncacheable(reason.to_owned());
        }
        digests.push(element.finish());
    }
    digests.sort_unstable();
    h.write_tag(kind);
    h.write_len(len);
    for digest in &digests {
        h.write_raw(digest.as_bytes());
    }
}

impl<K: CacheKey, V: CacheKey, S> CacheKey for HashMap<K, V, S> {
    fn cache_key(&self, h: &mut KeyHasher) {
        let entries = self.iter().map(|(key, value)| {
            move |e: &mut KeyHasher| {
                key.cache_key(e);
                value.cache_key(e);
            }
        });
        write_unordered(h, tag::UNORDERED_MAP, self.len(), entries);
    }
}

impl<T: CacheKey, S> CacheKey for HashSet<T, S> {
    fn cache_key(&self, h: &mut KeyHasher) {
        let items = self
            .iter()
            .map(|item| move |e: &mut KeyHasher| item.cache_key(e));
        write_unordered(h, tag::UNORDERED_SET, self.len(), items);
    }
}
