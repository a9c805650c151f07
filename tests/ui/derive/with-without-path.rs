use memo::CacheKey;

#[derive(CacheKey)]
struct Params {
    #[cache_key(with)]
    name: String,
}

fn main() {}
