use memo::cached;

#[cached(ttl = "an hour")]
fn a(x: u32) -> u32 {
    x
}

#[cached(ttl = 0)]
fn b(x: u32) -> u32 {
    x
}

#[cached(ttl = 1.5)]
fn c(x: u32) -> u32 {
    x
}

fn main() {}
