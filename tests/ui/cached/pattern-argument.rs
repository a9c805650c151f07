use memo::cached;

#[cached]
fn add((a, b): (u32, u32)) -> u32 {
    a + b
}

#[cached]
fn ignore(_: u32) -> u32 {
    1
}

fn main() {}
