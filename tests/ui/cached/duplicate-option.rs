use memo::cached;

#[cached(ttl = "1h", tags = ["a"], ttl = "2h")]
fn a(x: u32) -> u32 {
    x
}

fn main() {}
