//! Where a store's socket is. `memo.sock` in the store directory when its path fits the
//! platform's limit for a socket address (108 bytes on Linux, 104 on macOS); beyond it, a
//! name derived from the directory: an abstract socket on Linux (no file, gone with its
//! process), a short path in the temporary directory elsewhere. Holder and clients derive
//! the same address from the same canonical directory.

use std::io;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// The socket's file in the store directory.
pub(crate) const SOCKET: &str = "memo.sock";

/// The longest path a socket address holds, with room for its terminating zero on every
/// platform memo runs on.
const MAX_PATH: usize = 103;

/// A store's socket address.
pub(crate) enum Address {
    /// A file: `memo.sock` in the store directory, or a short one in the temporary
    /// directory.
    File(PathBuf),
    /// An abstract socket (Linux): a name, no file.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Abstract(String),
}

impl Address {
    /// The address of the store in `dir` (canonical).
    pub(crate) fn of(dir: &Path) -> Address {
        let path = dir.join(SOCKET);
        if path.as_os_str().len() <= MAX_PATH {
            return Address::File(path);
        }
        let hash = blake3::hash(dir.as_os_str().as_encoded_bytes()).to_hex();
        let name = format!("memo-{}", &hash[..32]);
        if cfg!(target_os = "linux") {
            Address::Abstract(name)
        } else {
            Address::File(std::env::temp_dir().join(format!("{name}.sock")))
        }
    }

    /// Listens here, replacing whatever socket file a holder that is gone left behind.
    pub(crate) fn bind(&self) -> io::Result<UnixListener> {
        match self {
            Address::File(path) => {
                let _ = std::fs::remove_file(path);
                let listener = UnixListener::bind(path)?;
                crate::store::private::tighten_socket(path);
                Ok(listener)
            }
            Address::Abstract(name) => bind_abstract(name),
        }
    }

    pub(crate) fn connect(&self) -> io::Result<UnixStream> {
        match self {
            Address::File(path) => UnixStream::connect(path),
            Address::Abstract(name) => connect_abstract(name),
        }
    }

    /// Stops listening: the socket file goes (an abstract socket goes with its listener).
    pub(crate) fn remove(&self) {
        if let Address::File(path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(target_os = "linux")]
fn bind_abstract(name: &str) -> io::Result<UnixListener> {
    use std::os::linux::net::SocketAddrExt;
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    UnixListener::bind_addr(&address)
}

#[cfg(target_os = "linux")]
fn connect_abstract(name: &str) -> io::Result<UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    UnixStream::connect_addr(&address)
}

#[cfg(not(target_os = "linux"))]
fn bind_abstract(_: &str) -> io::Result<UnixListener> {
    Err(io::Error::other("abstract sockets are Linux's"))
}

#[cfg(not(target_os = "linux"))]
fn connect_abstract(_: &str) -> io::Result<UnixStream> {
    Err(io::Error::other("abstract sockets are Linux's"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_directory_gets_a_short_address_and_both_ends_agree() {
        let short = Path::new("/tmp/store");
        assert!(matches!(Address::of(short), Address::File(p) if p == short.join(SOCKET)));
        let long = PathBuf::from(format!("/tmp/{}", "d".repeat(120)));
        let (a, b) = (Address::of(&long), Address::of(&long));
        match (&a, &b) {
            (Address::Abstract(x), Address::Abstract(y)) => assert_eq!(x, y),
            (Address::File(x), Address::File(y)) => {
                assert_eq!(x, y);
                assert!(x.as_os_str().len() <= MAX_PATH);
            }
            _ => panic!("the two ends chose differently"),
        }
        let listener = a.bind().unwrap();
        let _client = b.connect().unwrap();
        drop(listener);
        a.remove();
    }
}
