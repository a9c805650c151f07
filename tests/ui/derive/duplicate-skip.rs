use memo::CacheKey;

#[derive(CacheKey)]
struct Params {
    #[cache_key(skip, skip)]
    verbose: bool,
}

fn main() {}
