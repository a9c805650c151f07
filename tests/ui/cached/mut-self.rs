use memo::{cached, CacheKey};

#[derive(CacheKey)]
struct Counter {
    n: u64,
}

impl Counter {
    #[cached]
    fn bump(&mut self) -> u64 {
        self.n += 1;
        self.n
    }
}

fn main() {}
