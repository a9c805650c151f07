use memo::cached;

#[cached]
fn log(message: &str) {
    println!("{message}");
}

#[cached]
fn log_explicit(message: &str) -> () {
    println!("{message}");
}

fn main() {}
