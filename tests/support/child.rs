//! Child processes: this test binary, re-run on one ignored test, so that a crash, a kill
//! or a damaged store never takes the test process down.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

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

/// [`child`], with its output piped for the test to read.
pub fn piped(name: &str, dir: &Path) -> Command {
    let mut command = child(name, dir);
    command.stdout(Stdio::piped());
    command
}

/// Waits for a [`piped`] child to print `line`; the rest of its output.
pub fn wait_for(process: &mut Child, line: &str) -> BufReader<ChildStdout> {
    let mut out = BufReader::new(process.stdout.take().unwrap());
    let mut text = String::new();
    loop {
        text.clear();
        assert!(
            out.read_line(&mut text).unwrap() > 0,
            "the child ended before {line:?}"
        );
        // The test harness may have begun the line.
        if text.contains(line) {
            return out;
        }
    }
}

/// The number a child printed after `label` (`computed 12`), reading all it prints.
pub fn printed(out: BufReader<ChildStdout>, label: &str) -> u64 {
    let lines: Vec<String> = out.lines().map_while(Result::ok).collect();
    number_after(&lines.join("\n"), label)
}

/// The number that follows `label` in `text` (`saved_ms 31`), up to the next space.
#[allow(dead_code)]
pub fn number_after(text: &str, label: &str) -> u64 {
    text.split_once(label)
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {label:?} in {text:?}"))
}
