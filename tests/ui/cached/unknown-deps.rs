use memo::cached;

fn helper() -> u32 {
    1
}

#[cached(deps = [helper, no_such_item])]
fn a(x: u32) -> u32 {
    x + helper()
}

fn main() {}
