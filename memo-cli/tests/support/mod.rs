//! Running the real `memo` binary on a store, for every test file of the CLI.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// Runs `memo --dir DIR ARGS`, whatever `MEMO_DIR` the tests run with.
pub fn memo(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memo"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env_remove("MEMO_DIR")
        .output()
        .unwrap()
}

/// Runs a command that must succeed; its standard output.
#[track_caller]
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = memo(dir, args);
    assert!(
        out.status.success(),
        "memo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[track_caller]
pub fn json(dir: &Path, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    serde_json::from_str(&ok(dir, &args)).unwrap()
}

/// Runs a command that must fail with `code`; its error line.
#[track_caller]
pub fn fails(dir: &Path, args: &[&str], code: i32) -> String {
    let out = memo(dir, args);
    assert_eq!(out.status.code(), Some(code), "memo {args:?}");
    String::from_utf8(out.stderr).unwrap()
}
