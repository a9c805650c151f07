use memo::CacheKey;

struct Connection;

#[derive(CacheKey)]
struct Job {
    name: String,
    conn: Connection,
}

fn main() {}
