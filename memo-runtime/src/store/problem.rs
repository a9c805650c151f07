//! What went wrong with a store, said once as a warning and kept in the store's directory
//! (`last-problem`), so that `memo doctor` can tell a user who never saw the warning.

use std::path::Path;
use std::time::SystemTime;

use super::engine::Healed;
use crate::clock;

/// The file in a store's directory that holds the last problem seen.
pub(crate) const FILE: &str = "last-problem";

/// The last problem a process met with a store.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let found = memo::Store::diagnose(dir.path());
/// // A store no program had trouble with has none.
/// assert!(found.last_problem.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// When it was seen.
    pub at: SystemTime,
    /// The process that saw it.
    pub pid: u32,
    /// What was said.
    pub message: String,
}

/// Warns of a problem with the store in `dir` the first time `topic` is seen in this
/// process, and keeps it as the store's last problem.
pub(crate) fn report(dir: &Path, topic: &str, message: impl FnOnce() -> String) {
    let mut said = None;
    crate::warn::once(topic, || {
        let message = message();
        said = Some(message.clone());
        message
    });
    if let Some(message) = said {
        record(dir, &message);
    }
}

/// Says that the store's damaged file was replaced.
pub(crate) fn healed(dir: &Path, healed: &Healed) {
    let kept = healed.kept.map_or_else(
        || "it could not be kept, and was deleted".to_owned(),
        |path| format!("it is kept as {}", path.display()),
    );
    crate::warn::debug(|| {
        format!(
            "the damaged store file in {} was replaced: {}",
            dir.display(),
            healed.detail
        )
    });
    report(dir, &format!("store healed {}", dir.display()), || {
        format!(
            "the store at {} was damaged ({}); a fresh store took its place, so results are \
             computed again ({kept})",
            dir.display(),
            healed.detail
        )
    });
}

/// Keeps `message` as the last problem of the store in `dir`; best effort, since the
/// directory may be what failed.
fn record(dir: &Path, message: &str) {
    let line = format!(
        "{} {}\n{}\n",
        clock::now_ms(),
        std::process::id(),
        message.replace('\n', " ")
    );
    let _ = super::private::replace(&dir.join(FILE), line.as_bytes());
}

/// The last problem kept for the store in `dir`, if any.
pub(crate) fn last(dir: &Path) -> Option<Problem> {
    let text = std::fs::read_to_string(dir.join(FILE)).ok()?;
    let (head, message) = text.split_once('\n')?;
    let (at, pid) = head.split_once(' ')?;
    Some(Problem {
        at: clock::from_ms(at.parse().ok()?),
        pid: pid.parse().ok()?,
        message: message.trim_end().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_problem_is_kept_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(last(dir.path()), None);
        record(dir.path(), "first");
        record(dir.path(), "second\nline");
        let problem = last(dir.path()).unwrap();
        assert_eq!(problem.message, "second line");
        assert_eq!(problem.pid, std::process::id());
        std::fs::write(dir.path().join(FILE), "garbage").unwrap();
        assert_eq!(last(dir.path()), None);
    }
}
