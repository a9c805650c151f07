//! A store's files are its user's alone: the directory is created 0700 and every file in
//! it 0600, whatever the umask; a directory another user owns, or one the group or the
//! world may write to, is refused; no file is written through a symlink — files are
//! created new (`O_EXCL`, which never follows one) or written beside and renamed into place,
//! and opened with `O_NOFOLLOW`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// The mode of every directory memo creates in a store.
#[cfg(unix)]
const DIR_MODE: u32 = 0o700;
/// The mode of every file memo creates in a store.
#[cfg(unix)]
const FILE_MODE: u32 = 0o600;

/// Options for a file of the store: created owner-only, never through a symlink.
pub(crate) fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE).custom_flags(libc::O_NOFOLLOW);
    }
    options
}

/// Creates `dir` (and what leads to it) if it is not there; a directory created here is
/// owner-only whatever the umask.
pub(crate) fn create_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir)?;
    // The umask can only take bits away: what is left of 0700 is owner-only already.
    Ok(())
}

/// Refuses a store directory that is not this user's alone: owned by another user, or
/// writable by its group or by everyone (who could swap the database, plant a result
/// file or a symlink). One that others may only read is accepted as it is — its files are
/// owner-only — rather than changed under its user.
pub(crate) fn check_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = fs::metadata(dir).map_err(|source| Error::Io {
            path: dir.to_owned(),
            source,
        })?;
        let unsafe_dir = |detail: String| Error::Unsafe {
            dir: dir.to_owned(),
            detail,
        };
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me {
            return Err(unsafe_dir(format!(
                "it is owned by user {}, and this process runs as user {me}",
                meta.uid()
            )));
        }
        let mode = meta.mode() & 0o777;
        if mode & 0o022 != 0 {
            return Err(unsafe_dir(format!(
                "its mode is {mode:03o}: others may write to it"
            )));
        }
    }
    Ok(())
}

/// Makes the file at `path`, if it is a regular file this user owns, owner-only: a file
/// an older memo created under the umask.
pub(crate) fn tighten(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let Ok(meta) = fs::symlink_metadata(path) else {
            return;
        };
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.file_type().is_file() && meta.uid() == me && meta.mode() & 0o077 != 0 {
            let _ = fs::set_permissions(path, fs::Permissions::from_mode(FILE_MODE));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Whether `path` is a symlink: no file of a store may be one.
pub(crate) fn is_link(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink())
}

/// Creates the file at `path` with `bytes` unless something is there already; whether it
/// wrote it. A symlink at `path` counts as something: it is not followed.
pub(crate) fn write_new(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    match options().write(true).create_new(true).open(path) {
        Ok(mut file) => file.write_all(bytes).map(|()| true),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(error) => Err(error),
    }
}

/// Writes `bytes` to `path` whole: to a new file beside it, renamed into place, so what
/// was at `path` — a symlink too — is replaced, never written through.
pub(crate) fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("no file name"))?;
    let beside = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = fs::remove_file(&beside);
    let written = options()
        .write(true)
        .create_new(true)
        .open(&beside)
        .and_then(|mut file: File| file.write_all(bytes))
        .and_then(|()| fs::rename(&beside, path));
    if written.is_err() {
        let _ = fs::remove_file(&beside);
    }
    written
}

/// Makes the socket file at `path` owner-only: bound under the umask, it may be open to
/// the group or everyone (the peer's uid is checked as well, see `serve`).
pub(crate) fn tighten_socket(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(FILE_MODE));
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().mode() & 0o777
    }

    #[test]
    fn files_and_directories_are_owner_only_and_symlinks_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("a/b/store");
        create_dir(&store).unwrap();
        assert_eq!(mode(&store), 0o700);
        assert!(write_new(&store.join("f"), b"one").unwrap());
        assert_eq!(mode(&store.join("f")), 0o600);
        assert!(!write_new(&store.join("f"), b"two").unwrap(), "kept");
        assert_eq!(fs::read(store.join("f")).unwrap(), b"one");

        // A victim's file, and links to it where memo writes.
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        symlink(&victim, store.join("new")).unwrap();
        assert!(!write_new(&store.join("new"), b"x").unwrap());
        symlink(&victim, store.join("replaced")).unwrap();
        replace(&store.join("replaced"), b"pid").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert_eq!(fs::read(store.join("replaced")).unwrap(), b"pid");
        assert!(!is_link(&store.join("replaced")));
        assert!(is_link(&store.join("new")));
        let followed = options().write(true).open(store.join("new"));
        assert!(followed.is_err(), "O_NOFOLLOW");
        // A dangling link is not followed either: nothing appears where it points.
        symlink(dir.path().join("chosen"), store.join("dangling")).unwrap();
        assert!(!write_new(&store.join("dangling"), b"x").unwrap());
        assert!(!dir.path().join("chosen").exists());
    }

    #[test]
    fn a_directory_others_may_write_or_another_user_owns_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        create_dir(&store).unwrap();
        check_dir(&store).unwrap();
        fs::set_permissions(&store, fs::Permissions::from_mode(0o755)).unwrap();
        check_dir(&store).unwrap();
        assert_eq!(mode(&store), 0o755, "left as its user made it");
        for writable in [0o770, 0o707, 0o777] {
            fs::set_permissions(&store, fs::Permissions::from_mode(writable)).unwrap();
            let error = check_dir(&store).unwrap_err().to_string();
            assert!(error.contains("others may write"), "{error}");
        }
        fs::set_permissions(&store, fs::Permissions::from_mode(0o700)).unwrap();
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            std::os::unix::fs::chown(&store, Some(65534), None).unwrap();
            let error = check_dir(&store).unwrap_err().to_string();
            assert!(error.contains("owned by user 65534"), "{error}");
        }
        let file = store.join("old");
        fs::write(&file, b"x").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        tighten(&file);
        assert_eq!(mode(&file), 0o600);
        assert_eq!(fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
    }
}
