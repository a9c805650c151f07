use memo::cached;

#[cached(env = ["", "A=B", 3])]
fn a(x: u32) -> u32 {
    x
}

#[cached(env = ["LANG", "LANG"])]
fn b(x: u32) -> u32 {
    x
}

#[cached(env = LANG)]
fn c(x: u32) -> u32 {
    x
}

#[cached(flag = 1)]
fn d(x: u32) -> u32 {
    x
}

fn main() {}
