//! Compile time of `#[cached]`: runs `benches/compile_time.sh`, which builds a generated
//! crate of 200 cached functions against the same crate without the attribute, so that
//! `cargo bench` runs every benchmark. Arguments after `--` are passed on: the number of
//! rounds; `CARGO_COMMAND=check` measures `cargo check`.

use std::process::Command;

fn main() {
    // cargo passes `--bench`; a number among the arguments is the rounds.
    let rounds = std::env::args()
        .skip(1)
        .find(|arg| arg.parse::<u32>().is_ok())
        .unwrap_or_else(|| "5".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/compile_time.sh");
    let status = Command::new("bash")
        .arg(script)
        .arg(rounds)
        .status()
        .expect("bash runs the compile-time script");
    std::process::exit(status.code().unwrap_or(1));
}
