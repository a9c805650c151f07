//! Real crates for fingerprint tests: a throwaway crate that uses memo, written into a
//! temporary directory with its own store, built with cargo, run, edited and built again.
//! Every case shares one target directory, so memo and its dependencies build once. The
//! CLI's tests use it too (`#[path]`), from the workspace root whichever package they are.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A throwaway crate with its own store.
pub struct Case {
    pub name: String,
    pub dir: tempfile::TempDir,
    store: tempfile::TempDir,
}

/// How a case is built and run: cargo's extra arguments, and the environment of both.
#[derive(Default, Clone, Copy)]
pub struct Build<'a> {
    pub release: bool,
    pub cargo_args: &'a [&'a str],
    pub env: &'a [(&'a str, &'a str)],
}

impl Case {
    /// A crate named after the case (so parallel cases never share a binary) holding
    /// `files`; `manifest` is appended to its `[dependencies]` table (and may start other
    /// tables, such as `[features]`).
    pub fn new(name: &str, manifest: &str, files: &[(&str, &str)]) -> Case {
        let case = Case {
            name: format!("fp_{name}"),
            dir: tempfile::tempdir().unwrap(),
            store: tempfile::tempdir().unwrap(),
        };
        let root = workspace();
        case.write(
            "Cargo.toml",
            &format!(
                "[package]\nname = \"{}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
                 [dependencies]\nmemo = {{ package = \"memo-persist\", path = {root:?} }}\n{manifest}\n\n[workspace]\n",
                case.name
            ),
        );
        // The same versions as memo's own build, so the shared target directory reuses them.
        fs::copy(root.join("Cargo.lock"), case.dir.path().join("Cargo.lock")).unwrap();
        for (path, text) in files {
            case.write(path, text);
        }
        case
    }

    /// The case's store directory (`MEMO_DIR` of its runs).
    #[allow(dead_code)]
    pub fn store(&self) -> &Path {
        self.store.path()
    }

    pub fn write(&self, path: &str, text: &str) {
        let path = self.dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// Replaces `from` with `to` in `path`; `from` must be there.
    #[track_caller]
    pub fn edit(&self, path: &str, from: &str, to: &str) {
        let file = self.dir.path().join(path);
        let text = fs::read_to_string(&file).unwrap();
        assert!(text.contains(from), "{path} does not contain {from:?}");
        fs::write(file, text.replacen(from, to, 1)).unwrap();
    }

    /// Builds and runs the program in a debug build; its standard output.
    pub fn run(&self) -> String {
        self.run_with(Build::default())
    }

    /// Builds (from the case's directory, so its `.cargo/config.toml` applies) and runs
    /// the program as `build` says; its standard output.
    pub fn run_with(&self, build: Build) -> String {
        self.output_with(build).0
    }

    /// As [`Case::run_with`], with the program's standard error too.
    pub fn output_with(&self, build: Build) -> (String, String) {
        let target = target_dir();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .args(["build", "--quiet"])
            .args(build.release.then_some("--release"))
            .args(build.cargo_args)
            .current_dir(self.dir.path())
            .env("CARGO_TARGET_DIR", &target);
        for (key, value) in build.env {
            command.env(key, value);
        }
        let built = command.output().unwrap();
        assert!(
            built.status.success(),
            "build of {} failed:\n{}",
            self.name,
            String::from_utf8_lossy(&built.stderr)
        );
        let profile = if build.release { "release" } else { "debug" };
        let mut program = Command::new(target.join(profile).join(&self.name));
        program
            .current_dir(self.dir.path())
            .env("MEMO_DIR", self.store.path())
            .env_remove("MEMO_DISABLE")
            .env_remove("MEMO_AUDIT")
            .env_remove("MEMO_LOG");
        for (key, value) in build.env {
            program.env(key, value);
        }
        let run = program.output().unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
        assert!(run.status.success(), "{stderr}");
        (String::from_utf8(run.stdout).unwrap(), stderr)
    }

    /// Runs the program and asserts that `f` ran (a miss) or did not (a hit).
    #[track_caller]
    pub fn expect(&self, miss: bool) -> String {
        let out = self.run();
        assert_eq!(
            out.contains("ran f"),
            miss,
            "expected a {}:\n{out}",
            if miss { "miss" } else { "hit" }
        );
        out
    }

    /// Builds the base version twice: a miss, then a hit.
    pub fn baseline(&self) {
        self.expect(true);
        self.expect(false);
    }
}

/// The cached functions that ran (printed `ran NAME`) in a program's output, sorted.
pub fn ran(out: &str) -> Vec<String> {
    let mut names: Vec<String> = out
        .lines()
        .filter_map(|l| l.strip_prefix("ran "))
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

/// memo's workspace: the package of the test, or the one above it that holds `Cargo.lock`.
fn workspace() -> &'static Path {
    let package = Path::new(env!("CARGO_MANIFEST_DIR"));
    package
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .unwrap_or(package)
}

fn target_dir() -> PathBuf {
    workspace().join("target").join("fingerprint-cases")
}
