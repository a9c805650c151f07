//! Several processes, one store: the process that holds a store serves it to the others
//! on a Unix socket (see `socket`), as sccache's local server does. The protocol is small:
//! a request, a one-byte receipt, then the response; each message a length and a
//! postcard value, the response echoing its request's number. The receipt lets a client
//! tell a holder that stopped answering (a few ms) from one that is busy sending a large
//! result, waiting to write or waiting for a computation (as long as it takes): it comes
//! at once before those, and once the answer is ready before anything else.
//!
//! The holder trusts nobody's word (see `peer` for who may connect): a result a served
//! process offers comes with a MAC under the store's secret binding it to its key, and
//! with bytes that are its hash's; one that fails either is refused, counted and said.
//! What the holder sends back is checked the same way by the asker.

mod leases;
mod peer;
mod remote;
mod socket;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::{Arc, Weak};

use serde::{Deserialize, Serialize};

use super::access::{Bytes, FunctionInfo, NewEntry, Payload};
use super::{Inner, Store};
use crate::Digest;

use leases::Held;
pub(crate) use leases::Leases;
pub(crate) use remote::{Lead, Lease, Remote};
pub(crate) use socket::Address;

/// No message is larger: a larger length means a broken peer.
const MAX_MESSAGE: u32 = 1 << 30;
/// What the holder writes as soon as it has read a request.
const RECEIPT: u8 = 0xAC;

/// A request, numbered: the response carries the number back.
#[derive(Serialize, Deserialize)]
struct Numbered<'a> {
    number: u64,
    #[serde(borrow)]
    request: Request<'a>,
}

#[derive(Serialize, Deserialize)]
pub(super) enum Request<'a> {
    Get(Digest),
    Put {
        #[serde(borrow)]
        entry: NewEntry<'a>,
        key: Digest,
        output: Digest,
        bytes: &'a [u8],
        inputs: Vec<Digest>,
        /// Binds `output` to `key` under the store's secret.
        mac: Digest,
    },
    Record(FunctionInfo),
    /// Asks to compute `key`: the holder arbitrates the computations of every process.
    Lead(Digest),
    /// Waits a moment for the computation of `key` another process leads.
    Await(Digest),
    /// Gives up leading `key` (its result is not stored).
    Release(Digest),
    /// A result was replaced (a refresh): the holder's memory tiers start afresh.
    Forget,
    /// Stores a result the asker wrote as a file in the store's directory.
    PutFile {
        #[serde(borrow)]
        entry: NewEntry<'a>,
        key: Digest,
        output: Digest,
        size: u64,
        inputs: Vec<Digest>,
        mac: Digest,
    },
    /// What the asker's shared tier counted, for the store's totals.
    CountRemote(crate::RemoteCounts),
    /// Removes entries, as the holder would itself: its memory tiers forget them too.
    Remove(#[serde(borrow)] Removal<'a>),
}

/// Which entries a [`Request::Remove`] removes.
#[derive(Serialize, Deserialize)]
pub(crate) enum Removal<'a> {
    Tag(&'a str),
    Function(&'a str),
    Key(Digest),
    All,
}

#[derive(Serialize, Deserialize)]
pub(super) enum Response {
    /// The result, its bytes, its expiry and the MAC binding it to the key asked for.
    Found(Option<(Digest, Vec<u8>, Option<u64>, Digest)>),
    Done,
    Failed(String),
    /// Whether the asker leads the computation.
    Lead(bool),
    /// Whether the computation waited for has finished.
    Awaited(bool),
    /// A result kept as a file of this size, for the asker to read itself.
    FoundFile(Digest, u64, Option<u64>, Digest),
    /// How many entries a removal removed.
    Removed(u64),
}

pub(super) fn write_message(stream: &mut UnixStream, value: &impl Serialize) -> io::Result<()> {
    let bytes = postcard::to_stdvec(value).map_err(io::Error::other)?;
    let len = u32::try_from(bytes.len()).map_err(io::Error::other)?;
    stream.write_all(&len.to_le_bytes())?;
    stream.write_all(&bytes)
}

pub(super) fn read_message(stream: &mut UnixStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len);
    if len > MAX_MESSAGE {
        return Err(io::Error::other("a message is impossibly large"));
    }
    let mut bytes = Vec::new();
    stream.take(u64::from(len)).read_to_end(&mut bytes)?;
    if bytes.len() != len as usize {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(bytes)
}

/// Serves `inner` on its directory's socket until the store closes.
pub(super) fn start(inner: &Arc<Inner>) {
    // Whoever left a socket here no longer holds the store: this process does.
    let Ok(listener) = Address::of(&inner.dir).bind() else {
        // The others run uncached, as without serving; they wait briefly for a socket.
        crate::warn::debug(|| format!("could not serve the store at {}", inner.dir.display()));
        return;
    };
    // A forked child lets go of the socket at once (see `fork`).
    super::fork::track_socket(&inner.dir, std::os::fd::AsRawFd::as_raw_fd(&listener));
    let store = Arc::downgrade(inner);
    let _ = std::thread::Builder::new()
        .name("memo-serve".into())
        .spawn(move || accept(listener, store));
}

fn accept(listener: UnixListener, store: Weak<Inner>) {
    for stream in listener.incoming() {
        if store.strong_count() == 0 {
            return;
        }
        let Ok(stream) = stream else { continue };
        let store = store.clone();
        let _ = std::thread::Builder::new()
            .name("memo-serve-client".into())
            .spawn(move || serve(stream, store));
    }
}

fn serve(mut stream: UnixStream, store: Weak<Inner>) {
    if let Err(refusal) = peer::greet_asker(&mut stream) {
        if let (peer::Refusal::Incompatible(why), Some(inner)) = (refusal, store.upgrade()) {
            inner.live.refused(1);
            crate::warn::once(
                &format!("refused a peer of {}", inner.dir.display()),
                || {
                    format!(
                        "the store at {} refused a connection: {why}",
                        inner.dir.display()
                    )
                },
            );
        }
        return;
    }
    // The computations this client leads: if it goes away, their leases are let go of,
    // and a waiting caller takes over.
    let mut leading: HashMap<Digest, Held> = HashMap::new();
    while let Ok(bytes) = read_message(&mut stream) {
        let parsed = postcard::from_bytes::<Numbered>(&bytes);
        // The receipt says the holder is alive and at work. Before a write — which can
        // wait for room in the write buffer — or a wait for another's computation, it goes
        // at once; before anything else, once the answer is ready: a holder stopped between the receipt and the answer would
        // keep its client waiting for as long as an answer may take, so that window is
        // left only where the work can be long.
        let receipt_first = matches!(
            &parsed,
            Ok(Numbered {
                request: Request::Put { .. }
                    | Request::PutFile { .. }
                    | Request::Record(_)
                    | Request::Await(_),
                ..
            })
        );
        if receipt_first && stream.write_all(&[RECEIPT]).is_err() {
            return;
        }
        let Some(inner) = store.upgrade() else { return };
        let store = Store { inner };
        let (number, response) = match parsed {
            Ok(Numbered { number, request }) => (number, answer(&store, request, &mut leading)),
            Err(error) => (0, Response::Failed(format!("unreadable request: {error}"))),
        };
        drop(store);
        if !receipt_first && stream.write_all(&[RECEIPT]).is_err() {
            return;
        }
        if write_message(&mut stream, &(number, response)).is_err() {
            return;
        }
    }
}

/// How long the holder waits for a computation before it says it has not finished: a
/// client asks again, so a long computation never looks like a holder that stopped, and
/// the client's other threads, which share its connection, wait at most this long.
pub(super) const AWAIT_SLICE: std::time::Duration = std::time::Duration::from_millis(20);

fn answer(store: &Store, request: Request<'_>, leading: &mut HashMap<Digest, Held>) -> Response {
    let result = match request {
        // The holder counts the others' hits and misses with its own, so the store's
        // counters, persisted by the holder, cover every process.
        Request::Get(key) => store.lookup(&key).map(|hit| {
            if hit.is_some() {
                store.count_hit();
            }
            match hit {
                None => Response::Found(None),
                Some(hit) => {
                    let mac = store.inner.seal.mac(&key, &hit.output);
                    match hit.payload {
                        Payload::Bytes(bytes) => {
                            Response::Found(Some((hit.output, bytes.to_vec(), hit.expires_ms, mac)))
                        }
                        Payload::File(file) => {
                            Response::FoundFile(hit.output, file.size, hit.expires_ms, mac)
                        }
                    }
                }
            }
        }),
        Request::Put {
            entry,
            key,
            output,
            bytes,
            inputs,
            mac,
        } => put(
            store,
            leading,
            &entry,
            (key, output, mac),
            Bytes::Held(bytes),
            &inputs,
        ),
        Request::PutFile {
            entry,
            key,
            output,
            size,
            inputs,
            mac,
        } => put(
            store,
            leading,
            &entry,
            (key, output, mac),
            Bytes::File(size),
            &inputs,
        ),
        Request::Remove(removal) => store.remove_here(&removal).map(Response::Removed),
        Request::Record(info) => store.write_function(info).map(|()| Response::Done),
        Request::Forget => {
            store.forget_hot();
            Ok(Response::Done)
        }
        Request::Lead(key) => Ok(Response::Lead(match store.inner.leases.take(key) {
            Some(lease) => {
                leading.insert(key, lease);
                true
            }
            None => false,
        })),
        Request::Await(key) => Ok(Response::Awaited(
            store.inner.leases.wait_for(&key, AWAIT_SLICE),
        )),
        Request::Release(key) => {
            leading.remove(&key);
            Ok(Response::Done)
        }
        Request::CountRemote(counts) => {
            store.inner.remote_counts.receive(counts);
            Ok(Response::Done)
        }
    };
    result.unwrap_or_else(|error| Response::Failed(error.to_string()))
}

/// Stores a result for a client, and lets go of its lease: those waiting for it find the
/// result. A result not bound to its key by the store's secret, or whose bytes are not
/// its hash's, is refused: counted, said once, and not stored.
fn put(
    store: &Store,
    leading: &mut HashMap<Digest, Held>,
    entry: &NewEntry<'_>,
    (key, output, mac): (Digest, Digest, Digest),
    bytes: Bytes<'_>,
    inputs: &[Digest],
) -> crate::error::Result<Response> {
    let refused = if !store.inner.seal.checks(&key, &output, Some(&mac)) {
        Some("its MAC does not bind it to its key under the store's secret")
    } else {
        match bytes {
            Bytes::Held(bytes) if Digest::of_bytes(bytes) != output => {
                Some("its bytes are not those its hash names")
            }
            Bytes::File(size)
                if !super::BlobFile::of(&store.inner.dir, &output, size).is_there() =>
            {
                Some("the file it names is not there")
            }
            _ => None,
        }
    };
    if let Some(why) = refused {
        // Those waiting for it compute it themselves.
        drop(leading.remove(&key));
        store.inner.live.refused(1);
        let dir = store.inner.dir.display();
        crate::warn::once(&format!("refused a result for {dir}"), || {
            format!("the store at {dir} refused a result another process offered: {why}")
        });
        return Ok(Response::Failed(format!("refused: {why}")));
    }
    let stored = store.insert(entry, &key, output, bytes, inputs);
    store.count_miss();
    drop(leading.remove(&key));
    stored.map(|()| Response::Done)
}

/// Connects to the socket of the store in `dir` without checking who listens, sends a
/// hello and reads the answer: what a process of another user can do (`raw::knock`).
pub(crate) fn knock(dir: &Path) -> io::Result<()> {
    let mut stream = Address::of(dir).connect()?;
    stream.write_all(&peer::hello())?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let mut answer = [0u8; 8];
    stream.read_exact(&mut answer)?;
    Ok(())
}

/// Listens at the address of the store in `dir` before its holder does and answers every
/// hello as a holder would, without checking who asks: what a process of another user
/// can do to a store whose socket is abstract (`raw::squat`). Never returns but on error.
pub(crate) fn squat(dir: &Path) -> io::Result<()> {
    let listener = Address::of(dir).bind()?;
    println!("squatting");
    for stream in listener.incoming() {
        let mut stream = stream?;
        let mut asked = [0u8; 8];
        if stream.read_exact(&mut asked).is_ok() {
            let _ = stream.write_all(&peer::hello());
        }
    }
    Ok(())
}

/// Stops serving: the accepting thread is woken to see the store gone, and the socket
/// file goes.
pub(super) fn stop(dir: &Path) {
    let address = Address::of(dir);
    let _ = address.connect();
    address.remove();
}
