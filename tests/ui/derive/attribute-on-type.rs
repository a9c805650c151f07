use memo::CacheKey;

#[derive(CacheKey)]
#[cache_key(skip)]
struct Params {
    name: String,
}

fn main() {}
