//! `CacheKey` for paths, and [`FileContent`], which keys a file or a directory tree by what
//! it holds.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use super::{CacheKey, KeyHasher, tag};

/// A path keys as its components, as `Path`'s own equality compares them: `a/b`, `a//b` and
/// `a/./b` are one key. It is the path's name that is keyed, not the file it names — use
/// [`FileContent`] for that.
impl CacheKey for Path {
    fn cache_key(&self, h: &mut KeyHasher) {
        h.write_tag(tag::PATH);
        h.write_len(self.components().count());
        for component in self.components() {
            let text = match component {
                Component::RootDir => OsStr::new("/"),
                other => other.as_os_str(),
            };
            h.write_bytes(text.as_encoded_bytes());
        }
    }
}

impl CacheKey for PathBuf {
    fn cache_key(&self, h: &mut KeyHasher) {
        self.as_path().cache_key(h);
    }
}

impl CacheKey for OsStr {
    fn cache_key(&self, h: &mut KeyHasher) {
        h.write_bytes(self.as_encoded_bytes());
    }
}

impl CacheKey for OsString {
    fn cache_key(&self, h: &mut KeyHasher) {
        self.as_os_str().cache_key(h);
    }
}

/// Keys a file — or a directory tree — by the blake3 hash of its content, not its name.
///
/// Pass it where a function reads a file, so that editing the file is a miss and renaming it
/// is not. A directory keys by the names and contents of everything below it, in sorted
/// order; symbolic links are followed. A missing path keys as "missing", which differs from
/// an empty file, so creating the file later is a miss. A path that exists but cannot be
/// read makes the call run uncached, since no key could stand for it.
///
/// ```
/// use memo::FileContent;
///
/// let dir = tempfile::tempdir().unwrap();
/// let a = dir.path().join("a.txt");
/// let b = dir.path().join("b.txt");
/// std::fs::write(&a, "same bytes").unwrap();
/// std::fs::write(&b, "same bytes").unwrap();
/// assert_eq!(memo::key_of(&FileContent(&a)), memo::key_of(&FileContent(&b)));
///
/// std::fs::write(&b, "other bytes").unwrap();
/// assert_ne!(memo::key_of(&FileContent(&a)), memo::key_of(&FileContent(&b)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileContent<P: AsRef<Path>>(pub P);

impl<P: AsRef<Path>> FileContent<P> {
    /// The path this value names.
    ///
    /// ```
    /// let input = memo::FileContent("data/input.csv");
    /// assert_eq!(input.path(), std::path::Path::new("data/input.csv"));
    /// ```
    pub fn path(&self) -> &Path {
        self.0.as_ref()
    }
}

impl<P: AsRef<Path>> AsRef<Path> for FileContent<P> {
    fn as_ref(&self) -> &Path {
        self.path()
    }
}

impl<P: AsRef<Path>> CacheKey for FileContent<P> {
    fn cache_key(&self, h: &mut KeyHasher) {
        h.write_tag(tag::FILE_CONTENT);
        if let Err(error) = write_tree(h, self.path(), &mut Vec::new()) {
            h.mark_uncacheable(format!(
                "could not read {} to key it by content: {error}",
                self.path().display()
            ));
        }
    }
}

/// Feeds the file or tree at `path`; `ancestors` holds the canonical paths of the
/// directories above it, so that a symbolic link back up the tree is an error rather than
/// an endless walk.
fn write_tree(h: &mut KeyHasher, path: &Path, ancestors: &mut Vec<PathBuf>) -> io::Result<()> {
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            h.write_tag(tag::MISSING);
            return Ok(());
        }
        Err(error) => return Err(error),
    };
    if metadata.is_dir() {
        let canonical = fs::canonicalize(path)?;
        if ancestors.contains(&canonical) {
            return Err(io::Error::other(format!(
                "{} links back to a directory above it",
                path.display()
            )));
        }
        let mut names = fs::read_dir(path)?
            .map(|entry| entry.map(|entry| entry.file_name()))
            .collect::<io::Result<Vec<OsString>>>()?;
        names.sort();
        h.write_tag(tag::DIR);
        h.write_len(names.len());
        ancestors.push(canonical);
        let result = names.iter().try_for_each(|name| {
            h.write_bytes(name.as_encoded_bytes());
            write_tree(h, &path.join(name), ancestors)
        });
        ancestors.pop();
        result?;
    } else {
        let mut content = blake3::Hasher::new();
        let length = content.update_reader(fs::File::open(path)?)?.count();
        h.write_tagged(tag::FILE, length.to_le_bytes());
        h.write_raw(content.finalize().as_bytes());
    }
    Ok(())
}
