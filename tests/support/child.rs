//! Child processes: this test binary, re-run on one ignored test, so that a crash, a kill
//! or a damaged store never takes the test process down.

use std::path::Path;
use std::process::Command;

const CHILD: &str = "MEMO_TEST_CHILD";

/// The ignored test `name` of this binary, as a child using the store in `dir` by default,
/// with none of memo's settings of the shell that runs the tests.
pub fn child(name: &str, dir: &Path) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("MEMO_DIR", dir)
        .env_remove("MEMO_DISABLE")
        .env_remove("MEMO_LOG")
        .env_remove("MEMO_AUDIT")
        .env_remove("RUST_BACKTRACE");
    command
}

/// Whether this process is such a child.
pub fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}
