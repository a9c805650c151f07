use memo::cached;

#[cached]
struct Settings {
    depth: u32,
}

fn main() {}
