//! Which store the command opens: `--dir`, else `$MEMO_DIR`, else the nearest `.memo/`
//! walking up from the working directory, as git finds `.git`.

use std::path::{Path, PathBuf};

/// The store directory to open, or why there is none.
pub fn store_dir(flag: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(dir) = flag {
        return existing(dir);
    }
    if let Some(dir) = std::env::var_os("MEMO_DIR").filter(|d| !d.is_empty()) {
        return existing(Path::new(&dir));
    }
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot read the working directory: {e}"))?;
    cwd.ancestors()
        .map(|dir| dir.join(".memo"))
        .find(|candidate| candidate.is_dir())
        .ok_or_else(|| {
            format!(
                "no store found: no .memo/ in {} or above it; run a program that uses memo first, or name one with --dir or MEMO_DIR",
                cwd.display()
            )
        })
}

fn existing(dir: &Path) -> Result<PathBuf, String> {
    if dir.is_dir() {
        Ok(dir.to_path_buf())
    } else {
        Err(format!(
            "no store at {}: the directory does not exist; check --dir or MEMO_DIR",
            dir.display()
        ))
    }
}
