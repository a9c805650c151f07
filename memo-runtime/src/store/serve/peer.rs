//! Who is at the other end of a store's socket, and whether both ends speak one protocol.
//!
//! Both ends check the other's uid, as the kernel reports it (`SO_PEERCRED` on Linux,
//! `getpeereid` elsewhere): a holder serves only processes of its own user, and a process
//! uses only a holder of its own user — an abstract socket has no file permissions, so
//! another user could bind its name first. Then the asker sends a hello, the magic and its
//! protocol version, and the holder answers with its own; a holder of another version
//! answers and closes. The magic read as a message length is past the largest message, so
//! a holder from before the hello refuses it too.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// The version of the socket protocol: its requests and responses. Version 1 had no hello.
pub(crate) const PROTOCOL_VERSION: u32 = 2;

/// What a hello starts with.
const MAGIC: &[u8; 4] = b"MEMO";

/// How long an asker waits for the holder's hello: a holder answers it at once.
const HELLO_TIMEOUT: Duration = Duration::from_millis(250);

/// Why a connection to a holder is not used.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The holder cannot be used by this process, and will not become usable: another
    /// user's, or another protocol's.
    Incompatible(String),
    /// The connection failed; asking again may work.
    Failed(io::Error),
}

impl From<io::Error> for Refusal {
    fn from(error: io::Error) -> Refusal {
        Refusal::Failed(error)
    }
}

/// This process's effective uid.
pub(crate) fn my_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The effective uid of the process at the other end of `stream`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn uid_of(stream: &UnixStream) -> io::Result<u32> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the size passed.
    let status = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &mut len,
        )
    };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cred.uid)
}

/// The effective uid of the process at the other end of `stream`.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn uid_of(stream: &UnixStream) -> io::Result<u32> {
    use std::os::fd::AsRawFd;
    let (mut uid, mut gid) = (u32::MAX, u32::MAX);
    // SAFETY: `uid` and `gid` are valid for writes.
    if unsafe { libc::getpeereid(stream.as_raw_fd(), &mut uid, &mut gid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(uid)
}

pub(super) fn hello() -> [u8; 8] {
    let mut hello = [0u8; 8];
    hello[..4].copy_from_slice(MAGIC);
    hello[4..].copy_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    hello
}

/// The asker's side: checks the holder's uid, then exchanges hellos.
pub(crate) fn greet_holder(stream: &mut UnixStream) -> Result<(), Refusal> {
    let (theirs, mine) = (uid_of(stream)?, my_uid());
    if theirs != mine {
        return Err(Refusal::Incompatible(format!(
            "the process serving it runs as user {theirs}, and this one as user {mine}"
        )));
    }
    stream.write_all(&hello())?;
    stream.set_read_timeout(Some(HELLO_TIMEOUT))?;
    let mut answer = [0u8; 8];
    match stream.read_exact(&mut answer) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
            return Err(Refusal::Incompatible(
                "it closed the connection at the hello: it runs a memo from before the socket protocol had versions".into(),
            ));
        }
        Err(error) => return Err(error.into()),
    }
    let version = u32::from_le_bytes(answer[4..].try_into().expect("four bytes"));
    if &answer[..4] != MAGIC {
        return Err(Refusal::Incompatible(
            "it answered the hello with something else than memo's".into(),
        ));
    }
    if version != PROTOCOL_VERSION {
        return Err(Refusal::Incompatible(format!(
            "it speaks memo's socket protocol version {version}, and this process version {PROTOCOL_VERSION}"
        )));
    }
    Ok(())
}

/// The holder's side: whether to serve the asker — its user is this one's, its hello is
/// memo's and of this protocol version (answered either way, so it can say why).
pub(crate) fn greet_asker(stream: &mut UnixStream) -> Result<(), Refusal> {
    let (theirs, mine) = (uid_of(stream)?, my_uid());
    if theirs != mine {
        return Err(Refusal::Incompatible(format!(
            "a process of user {theirs} asked to use it, and it is user {mine}'s"
        )));
    }
    let mut asked = [0u8; 8];
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.read_exact(&mut asked)?;
    stream.set_read_timeout(None)?;
    if &asked[..4] != MAGIC {
        return Err(Refusal::Incompatible(
            "a process asked with something else than memo's hello".into(),
        ));
    }
    stream.write_all(&hello())?;
    let version = u32::from_le_bytes(asked[4..].try_into().expect("four bytes"));
    if version != PROTOCOL_VERSION {
        return Err(Refusal::Incompatible(format!(
            "a process asked in protocol version {version}, and it speaks version {PROTOCOL_VERSION}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_names_the_peer_and_both_ends_agree_on_the_version() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        assert_eq!(uid_of(&a).unwrap(), my_uid());
        let holder = std::thread::spawn(move || greet_asker(&mut b).map_err(|e| format!("{e:?}")));
        greet_holder(&mut a).unwrap();
        holder.join().unwrap().unwrap();
    }

    #[test]
    fn another_version_is_refused_by_both_ends_and_said() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let holder = std::thread::spawn(move || {
            let mut asked = [0u8; 8];
            b.read_exact(&mut asked).unwrap();
            b.write_all(b"MEMO\x07\0\0\0").unwrap();
        });
        let Err(Refusal::Incompatible(why)) = greet_holder(&mut a) else {
            panic!("accepted a holder of version 7");
        };
        assert!(why.contains("version 7"), "{why}");
        holder.join().unwrap();

        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(b"MEMO\x01\0\0\0").unwrap();
        let Err(Refusal::Incompatible(why)) = greet_asker(&mut b) else {
            panic!("served an asker of version 1");
        };
        assert!(why.contains("version 1"), "{why}");
        let mut answer = [0u8; 8];
        a.read_exact(&mut answer).unwrap();
        assert_eq!(&answer[..4], MAGIC, "answered, so the asker can say why");

        // A holder from before the hello reads it as a message longer than any.
        let (mut a, b) = UnixStream::pair().unwrap();
        drop(b);
        assert!(matches!(
            greet_holder(&mut a),
            Err(Refusal::Incompatible(_) | Refusal::Failed(_))
        ));
        assert!(u32::from_le_bytes(*MAGIC) > super::super::MAX_MESSAGE);
    }
}
