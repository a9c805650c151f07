use memo::cached;

#[cached(tags = ["ok", 3], name = "", version = "2", deps = [1 + 1])]
fn a(x: u32) -> u32 {
    x
}

fn main() {}
