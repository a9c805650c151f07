use memo::cached;

#[cached(expire = "1h")]
fn a(x: u32) -> u32 {
    x
}

fn main() {}
