use memo::cached;

#[cached(skip(verbose))]
fn a(x: u32, verbos: bool) -> u32 {
    let _ = verbos;
    x
}

fn main() {}
