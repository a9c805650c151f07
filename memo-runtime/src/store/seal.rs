//! The store's secret, and the MAC that binds each entry's result to its key.
//!
//! A store has a secret of its own: 32 random bytes in `secret`, created owner-only with
//! the store. Every entry carries a MAC — keyed blake3, under a key derived from the
//! secret, over the entry's key and its result's hash (the construction of the shared
//! tier's values). Whoever writes an entry must know the secret: the holder for its own
//! results, a served process for the results it offers (the holder refuses one whose MAC
//! fails), an import for what an archive brings. `verify` checks every MAC.

use std::io::{self, Read};
use std::path::Path;

use super::private;
use crate::Digest;
use crate::error::{Error, Result};

/// The file of a store's secret.
pub(crate) const SECRET_FILE: &str = "secret";

/// The length of a secret.
const SECRET_LEN: usize = 32;

/// The MAC key of one store, derived from its secret.
#[derive(Clone)]
pub(crate) struct Seal([u8; 32]);

impl std::fmt::Debug for Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seal(…)")
    }
}

impl Seal {
    /// The key for MACs made with `secret`.
    fn derive(secret: &[u8]) -> Seal {
        Seal(blake3::derive_key("memo store v1 entry MAC", secret))
    }

    /// The MAC binding the result `output` to the entry `key`.
    pub(crate) fn mac(&self, key: &Digest, output: &Digest) -> Digest {
        let mut hasher = blake3::Hasher::new_keyed(&self.0);
        hasher.update(&key.0);
        hasher.update(&output.0);
        Digest(*hasher.finalize().as_bytes())
    }

    /// Whether `mac` binds `output` to `key` under this seal (compared in constant time).
    pub(crate) fn checks(&self, key: &Digest, output: &Digest, mac: Option<&Digest>) -> bool {
        mac.is_some_and(|mac| {
            blake3::Hash::from(mac.0) == blake3::Hash::from(self.mac(key, output).0)
        })
    }

    /// The seal of the store in `dir`, whose secret is created now if it has none. A
    /// damaged secret (not its length) is replaced, with one warning: the entries signed
    /// with the old one no longer check, and `verify` removes them, so they are computed
    /// again — unless `heal` is off (commands that only look): then it is an error. A
    /// symlink in its place is refused.
    pub(crate) fn load_or_create(dir: &Path, heal: bool) -> Result<Seal> {
        let path = dir.join(SECRET_FILE);
        let io_error = |source| Error::Io {
            path: path.clone(),
            source,
        };
        if private::is_link(&path) {
            return Err(Error::Unsafe {
                dir: dir.to_owned(),
                detail: format!("its {SECRET_FILE} is a symlink"),
            });
        }
        match read_secret(&path) {
            Ok(seal) => return Ok(seal),
            Err(error) if error.kind() == io::ErrorKind::InvalidData && !heal => {
                return Err(Error::Corrupt {
                    dir: dir.to_owned(),
                    detail: error.to_string(),
                });
            }
            Err(error) if error.kind() == io::ErrorKind::InvalidData => {
                let mut secret = [0u8; SECRET_LEN];
                random(&mut secret).map_err(io_error)?;
                private::replace(&path, &secret).map_err(io_error)?;
                super::problem::report(dir, &format!("secret of {}", dir.display()), || {
                    format!(
                        "the store at {} had a damaged secret ({error}); a new one took its place, and `memo verify` removes the entries signed with the old one, so they are computed again",
                        dir.display()
                    )
                });
                return read_secret(&path).map_err(io_error);
            }
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(io_error(error)),
            Err(_) => {}
        }
        let mut secret = [0u8; SECRET_LEN];
        random(&mut secret).map_err(io_error)?;
        // Whole or not at all: written beside, then linked into place, which fails if
        // another process created one first — then that one is the store's.
        let beside = dir.join(format!(".{SECRET_FILE}.{}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&beside);
        let written = private::write_new(&beside, &secret).and_then(|_| {
            match std::fs::hard_link(&beside, &path) {
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                other => other,
            }
        });
        let _ = std::fs::remove_file(&beside);
        written.map_err(io_error)?;
        read_secret(&path).map_err(io_error)
    }

    /// The seal of the store in `dir`, which has its secret already (a served process
    /// reads the holder's).
    pub(crate) fn load(dir: &Path) -> Result<Seal> {
        let path = dir.join(SECRET_FILE);
        read_secret(&path).map_err(|source| Error::Io { path, source })
    }
}

/// Reads a secret: a regular file (never through a symlink) of exactly its length.
fn read_secret(path: &Path) -> io::Result<Seal> {
    let mut file = private::options().read(true).open(path)?;
    private::tighten(path);
    let mut secret = Vec::with_capacity(SECRET_LEN);
    file.by_ref()
        .take(SECRET_LEN as u64 + 1)
        .read_to_end(&mut secret)?;
    if secret.len() != SECRET_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the store's secret is {} bytes, not {SECRET_LEN}",
                secret.len()
            ),
        ));
    }
    Ok(Seal::derive(&secret))
}

/// Fills `bytes` from the system's random source.
fn random(bytes: &mut [u8]) -> io::Result<()> {
    std::fs::File::open("/dev/urandom")?.read_exact(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_has_one_secret_and_a_mac_binds_a_result_to_its_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let seal = Seal::load_or_create(dir.path(), true).unwrap();
        let again = Seal::load_or_create(dir.path(), true).unwrap();
        let (key, other_key, output) = (Digest([1; 32]), Digest([2; 32]), Digest([3; 32]));
        let mac = seal.mac(&key, &output);
        assert!(again.checks(&key, &output, Some(&mac)), "one secret");
        assert!(
            Seal::load(dir.path())
                .unwrap()
                .checks(&key, &output, Some(&mac))
        );
        assert!(!seal.checks(&other_key, &output, Some(&mac)), "another key");
        assert!(
            !seal.checks(&key, &Digest([4; 32]), Some(&mac)),
            "another result"
        );
        assert!(!seal.checks(&key, &output, None), "no MAC");
        let elsewhere = tempfile::tempdir().unwrap();
        let foreign = Seal::load_or_create(elsewhere.path(), true).unwrap();
        assert!(
            !foreign.checks(&key, &output, Some(&mac)),
            "another store's secret"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_FILE))
                .unwrap()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(format!("{seal:?}").contains('…'), "never shown");
    }

    #[test]
    fn a_damaged_secret_is_replaced_and_a_planted_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let seal = Seal::load_or_create(dir.path(), true).unwrap();
        let mac = seal.mac(&Digest([1; 32]), &Digest([2; 32]));
        std::fs::write(dir.path().join(SECRET_FILE), b"short").unwrap();
        assert!(
            Seal::load(dir.path()).is_err(),
            "a served process never guesses"
        );
        let looking = Seal::load_or_create(dir.path(), false).unwrap_err();
        assert!(matches!(looking, Error::Corrupt { .. }), "{looking}");
        assert_eq!(
            std::fs::read(dir.path().join(SECRET_FILE)).unwrap(),
            b"short",
            "left as it is"
        );
        let fresh = Seal::load_or_create(dir.path(), true).unwrap();
        assert!(!fresh.checks(&Digest([1; 32]), &Digest([2; 32]), Some(&mac)));
        assert_eq!(
            std::fs::read(dir.path().join(SECRET_FILE)).unwrap().len(),
            32
        );
        #[cfg(unix)]
        {
            let other = tempfile::tempdir().unwrap();
            std::fs::write(other.path().join("theirs"), [9u8; 32]).unwrap();
            std::os::unix::fs::symlink(other.path().join("theirs"), other.path().join(SECRET_FILE))
                .unwrap();
            assert!(
                Seal::load(other.path()).is_err(),
                "not read through a symlink"
            );
            let error = Seal::load_or_create(other.path(), true).unwrap_err();
            assert!(matches!(error, Error::Unsafe { .. }), "{error}");
        }
    }
}
