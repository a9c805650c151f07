//! Results too large to hold twice in memory: each is a file `blobs/<content hash>` beside
//! the database, written and read as a stream — hashed on the way in and verified on the
//! way out — so storing or reading one never holds more than the value itself.
//!
//! The blobs tree keeps a pointer for each (a marker and the size), written only once the
//! file is complete under its final name. A crash leaves at worst a file that no pointer
//! names, or a half-written `.tmp-*` file, which `gc` removes; a file that was damaged or
//! cut short reads as a miss, because its bytes no longer match their hash.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::Digest;

/// Results whose encoding outgrows this are kept as files. Below it they stay in the
/// database, where a hit is one read.
pub(crate) const FILE_MIN: usize = 8 << 20;

/// The directory of the files, in the store's directory.
pub(crate) const DIR: &str = "blobs";

/// What begins a pointer in the blobs tree. No blob kept in the tree is as short as a
/// pointer (those are over the inline limit), so a pointer is never a result's bytes.
const POINTER: [u8; 8] = [0xFF, b'm', b'e', b'm', b'o', b'F', b'L', 0x01];

/// A file nobody names (its writer died before its pointer was written, or the database
/// was replaced) is removed by `gc` once it is this old: a writer in another process may
/// be between finishing the file and sending its pointer.
const ORPHAN_AGE: Duration = Duration::from_secs(10 * 60);
/// A half-written file is removed by `gc` once it is this old, or its writer is gone.
const STAGED_AGE: Duration = Duration::from_secs(60 * 60);

/// The blobs-tree value that says a result lives in a file of `size` bytes.
pub(crate) fn pointer(size: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&POINTER);
    out[8..].copy_from_slice(&size.to_le_bytes());
    out
}

/// The size a pointer names; `None` for a blob kept in the tree.
pub(crate) fn read_pointer(raw: &[u8]) -> Option<u64> {
    let size = raw.strip_prefix(&POINTER)?;
    Some(u64::from_le_bytes(size.try_into().ok()?))
}

/// A result kept as a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlobFile {
    pub path: PathBuf,
    pub size: u64,
}

/// Where the file of the result with content hash `output` is, in the store at `dir`.
pub(crate) fn path(dir: &Path, output: &Digest) -> PathBuf {
    dir.join(DIR).join(output.to_string())
}

impl BlobFile {
    /// The file of `output` in the store at `dir`, as its pointer describes it.
    pub(crate) fn of(dir: &Path, output: &Digest, size: u64) -> BlobFile {
        BlobFile {
            path: path(dir, output),
            size,
        }
    }

    /// Whether the file is there with the size its pointer gives: the cheap check a
    /// lookup makes before it promises a hit. Its bytes are checked as they are read.
    pub(crate) fn is_there(&self) -> bool {
        fs::metadata(&self.path).is_ok_and(|meta| meta.is_file() && meta.len() == self.size)
    }

    /// The file, to read through: it hashes what is read.
    pub(crate) fn open(&self) -> io::Result<Verifying<File>> {
        Ok(Verifying::new(File::open(&self.path)?))
    }

    /// Whether the whole file matches `output`, read once in pieces.
    pub(crate) fn matches(&self, output: &Digest) -> bool {
        let Ok(mut file) = self.open() else {
            return false;
        };
        io::copy(&mut file, &mut io::sink()).is_ok() && file.matches(output, self.size)
    }

    /// The whole file, if it matches `output`.
    pub(crate) fn read_all(&self, output: &Digest) -> Option<Vec<u8>> {
        let mut bytes = Vec::new();
        let mut file = self.open().ok()?;
        file.read_to_end(&mut bytes).ok()?;
        file.matches(output, self.size).then_some(bytes)
    }
}

/// A reader that hashes what passes through it.
pub(crate) struct Verifying<R> {
    inner: R,
    hasher: blake3::Hasher,
    read: u64,
}

impl<R: Read> Verifying<R> {
    fn new(inner: R) -> Verifying<R> {
        Verifying {
            inner,
            hasher: blake3::Hasher::new(),
            read: 0,
        }
    }

    /// Whether what was read is `size` bytes hashing to `output`, and nothing follows.
    pub(crate) fn matches(&mut self, output: &Digest, size: u64) -> bool {
        let mut more = [0u8; 1];
        self.read == size
            && matches!(self.inner.read(&mut more), Ok(0))
            && Digest(*self.hasher.finalize().as_bytes()) == *output
    }
}

impl<R: Read> Read for Verifying<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// A result being written to a file in the store: hashed as it goes, under a temporary
/// name until [`Staged::finish`] gives it its own. Dropped unfinished, the file goes.
pub(crate) struct Staged {
    /// Small writes gather here, so the file and the hash see large pieces.
    out: Option<BufWriter<Hashed>>,
    temporary: PathBuf,
    dir: PathBuf,
}

/// A file that hashes what is written to it.
struct Hashed {
    file: File,
    hasher: blake3::Hasher,
    size: u64,
}

impl Write for Hashed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Staged {
    /// Starts a file in the store at `dir`.
    pub(crate) fn create(dir: &Path) -> io::Result<Staged> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let files = dir.join(DIR);
        super::private::create_dir(&files)?;
        let temporary = files.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let file = super::private::options()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        let hashed = Hashed {
            file,
            hasher: blake3::Hasher::new(),
            size: 0,
        };
        Ok(Staged {
            out: Some(BufWriter::with_capacity(1 << 20, hashed)),
            temporary,
            dir: dir.to_owned(),
        })
    }

    fn out(&mut self) -> &mut BufWriter<Hashed> {
        self.out.as_mut().expect("not finished")
    }

    /// The bytes written so far.
    pub(crate) fn size(&self) -> u64 {
        let out = self.out.as_ref().expect("not finished");
        out.get_ref().size + out.buffer().len() as u64
    }

    /// What was written so far, to read back before the file is finished.
    pub(crate) fn reread(&mut self) -> io::Result<File> {
        self.out().flush()?;
        File::open(&self.temporary)
    }

    /// Completes the file and moves it to its own name: its content hash and where it is.
    /// A file of that hash already there holds the same bytes and is replaced whole.
    pub(crate) fn finish(mut self) -> io::Result<(Digest, BlobFile)> {
        let out = self.out.take().expect("a staged file is finished once");
        let hashed = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        let output = Digest(*hashed.hasher.finalize().as_bytes());
        let blob = BlobFile::of(&self.dir, &output, hashed.size);
        drop(hashed.file);
        if let Err(error) = fs::rename(&self.temporary, &blob.path) {
            let _ = fs::remove_file(&self.temporary);
            return Err(error);
        }
        Ok((output, blob))
    }
}

impl Write for Staged {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out().write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out().write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out().flush()
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = fs::remove_file(&self.temporary);
        }
    }
}

/// A file in the store's `blobs` directory, as [`sweep`] sees it.
pub(crate) enum Found {
    /// A result's file, by its content hash.
    Result(Digest, u64),
    /// Anything else old enough to go: a half-written file, or a stray.
    Leftover(u64),
}

/// The files in the store at `dir`: results, and leftovers old enough to remove. A result
/// file younger than [`ORPHAN_AGE`] is left out: its pointer may be on its way.
pub(crate) fn sweep(dir: &Path) -> Vec<(PathBuf, Found)> {
    let Ok(listing) = fs::read_dir(dir.join(DIR)) else {
        return Vec::new();
    };
    let now = SystemTime::now();
    let age = |meta: &fs::Metadata| {
        meta.modified()
            .ok()
            .and_then(|at| now.duration_since(at).ok())
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for item in listing.flatten() {
        let Ok(meta) = item.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let name = item.file_name();
        let name = name.to_string_lossy();
        let found = match name.parse::<Digest>() {
            Ok(output) if age(&meta) >= ORPHAN_AGE => Found::Result(output, meta.len()),
            Ok(_) => continue,
            Err(_) if staged_by_the_living(&name) && age(&meta) < STAGED_AGE => continue,
            Err(_) => Found::Leftover(meta.len()),
        };
        out.push((item.path(), found));
    }
    out
}

/// Whether `name` is a half-written file of a process that is still running.
fn staged_by_the_living(name: &str) -> bool {
    name.strip_prefix(".tmp-")
        .and_then(|rest| rest.split('-').next())
        .and_then(|pid| pid.parse::<u32>().ok())
        .is_some_and(super::open::is_running)
}

/// Removes the file of `output`, if there is one.
pub(crate) fn remove(dir: &Path, output: &Digest) {
    let _ = fs::remove_file(path(dir, output));
}

/// Removes every result's file in the store at `dir` (`clear`); a file another process
/// is writing stays, to be finished or swept.
pub(crate) fn remove_results(dir: &Path) {
    for path in results(dir) {
        let _ = fs::remove_file(path);
    }
}

/// The bytes the files in the store at `dir` take.
pub(crate) fn disk_bytes(dir: &Path) -> u64 {
    let Ok(listing) = fs::read_dir(dir.join(DIR)) else {
        return 0;
    };
    listing
        .flatten()
        .filter_map(|item| item.metadata().ok())
        .filter(fs::Metadata::is_file)
        .map(|meta| meta.len())
        .sum()
}

fn results(dir: &Path) -> Vec<PathBuf> {
    let Ok(listing) = fs::read_dir(dir.join(DIR)) else {
        return Vec::new();
    };
    listing
        .flatten()
        .filter(|item| item.file_name().to_string_lossy().parse::<Digest>().is_ok())
        .map(|item| item.path())
        .collect()
}

/// The verified bytes of the blob `output` whose tree value is `raw`: the value itself, or
/// the file it points at; `None` if they do not match the hash.
pub(crate) fn blob_bytes(dir: &Path, output: &Digest, raw: &[u8]) -> Option<Vec<u8>> {
    match read_pointer(raw) {
        Some(size) => BlobFile::of(dir, output, size).read_all(output),
        None => (Digest::of_bytes(raw) == *output).then(|| raw.to_vec()),
    }
}

/// Whether the blob `output` whose tree value is `raw` matches its hash.
pub(crate) fn blob_matches(dir: &Path, output: &Digest, raw: &[u8]) -> bool {
    match read_pointer(raw) {
        Some(size) => BlobFile::of(dir, output, size).matches(output),
        None => Digest::of_bytes(raw) == *output,
    }
}

/// The bytes of the result the tree value `raw` stands for.
pub(crate) fn blob_size(raw: &[u8]) -> u64 {
    read_pointer(raw).unwrap_or(raw.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pointer_names_its_size_and_no_tree_blob_reads_as_one() {
        assert_eq!(read_pointer(&pointer(300 << 20)), Some(300 << 20));
        assert_eq!(read_pointer(&[0u8; 300]), None);
        let mut long = pointer(5).to_vec();
        long.push(0);
        assert_eq!(read_pointer(&long), None);
    }

    #[test]
    fn a_staged_file_is_hashed_as_written_and_verified_as_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut staged = Staged::create(dir.path()).unwrap();
        let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        for chunk in bytes.chunks(7919) {
            staged.write_all(chunk).unwrap();
        }
        let (output, blob) = staged.finish().unwrap();
        assert_eq!(output, Digest::of_bytes(&bytes));
        assert_eq!(blob.size, bytes.len() as u64);
        assert!(blob.is_there() && blob.matches(&output));
        assert_eq!(blob.read_all(&output).unwrap(), bytes);
        // Only the finished file is left.
        let names: Vec<_> = fs::read_dir(dir.path().join(DIR)).unwrap().collect();
        assert_eq!(names.len(), 1);

        // A flipped byte, or a file cut short, no longer matches.
        let mut damaged = bytes.clone();
        damaged[1_000_000] ^= 1;
        fs::write(&blob.path, &damaged).unwrap();
        assert!(!blob.matches(&output));
        assert!(blob.read_all(&output).is_none());
        fs::write(&blob.path, &bytes[..100]).unwrap();
        assert!(!blob.is_there() && !blob.matches(&output));
    }

    #[test]
    fn a_file_dropped_unfinished_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut staged = Staged::create(dir.path()).unwrap();
        staged.write_all(b"half").unwrap();
        drop(staged);
        assert_eq!(fs::read_dir(dir.path().join(DIR)).unwrap().count(), 0);
    }

    #[test]
    fn sweep_leaves_young_results_and_the_living_writers_files() {
        let dir = tempfile::tempdir().unwrap();
        let files = dir.path().join(DIR);
        fs::create_dir_all(&files).unwrap();
        let output = Digest::of_bytes(b"x");
        fs::write(files.join(output.to_string()), b"x").unwrap();
        fs::write(
            files.join(format!(".tmp-{}-0", std::process::id())),
            b"half",
        )
        .unwrap();
        // A pid no process has.
        fs::write(files.join(".tmp-4194303999-0"), b"dead").unwrap();
        let found = sweep(dir.path());
        assert_eq!(found.len(), 1, "only the dead writer's file goes");
        assert!(matches!(found[0].1, Found::Leftover(4)));
    }
}
