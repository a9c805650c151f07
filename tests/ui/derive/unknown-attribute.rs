use memo::CacheKey;

#[derive(CacheKey)]
struct Params {
    #[cache_key(ignore)]
    verbose: bool,
}

fn main() {}
