use memo::{CacheKey, KeyHasher};

fn by_len(s: &String, h: &mut KeyHasher) {
    s.len().cache_key(h);
}

#[derive(CacheKey)]
struct Params {
    #[cache_key(skip, with = by_len)]
    name: String,
}

fn main() {}
