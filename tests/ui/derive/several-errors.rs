use memo::CacheKey;

#[derive(CacheKey)]
enum Task {
    Build {
        #[cache_key(skp)]
        target: String,
    },
    Test(#[cache_key(skip, skip)] u32),
}

fn main() {
    // The derive still provides an impl, so this use raises no second error.
    fn needs_key<T: CacheKey>() {}
    needs_key::<Task>();
}
