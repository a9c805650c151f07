//! Several processes, one store: the process that holds a store serves it to the others
//! on a Unix socket in the store directory, as sccache's local server does. The protocol is
//! small: a request and a response, each a length and a postcard value.

use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::access::{FunctionInfo, Hit, NewEntry};
use super::{Inner, Store};
use crate::Digest;
use crate::error::{Error, Result};

/// The socket's file in the store directory.
pub(crate) const SOCKET: &str = "memo.sock";
/// No message is larger: a larger length means a broken peer.
const MAX_MESSAGE: u32 = 1 << 30;
/// How long a client waits for the holder to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Serialize, Deserialize)]
enum Request<'a> {
    Get(Digest),
    Put {
        #[serde(borrow)]
        entry: NewEntry<'a>,
        key: Digest,
        output: Digest,
        bytes: &'a [u8],
        inputs: Vec<Digest>,
    },
    Record(FunctionInfo),
}

#[derive(Serialize, Deserialize)]
enum Response {
    Found(Option<(Digest, Vec<u8>, Option<u64>)>),
    Done,
    Failed(String),
}

fn write_message(stream: &mut UnixStream, value: &impl Serialize) -> io::Result<()> {
    let bytes = postcard::to_stdvec(value).map_err(io::Error::other)?;
    let len = u32::try_from(bytes.len()).map_err(io::Error::other)?;
    stream.write_all(&len.to_le_bytes())?;
    stream.write_all(&bytes)
}

fn read_message(stream: &mut UnixStream) -> io::Result<Vec<u8>> {
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
    let path = inner.dir.join(SOCKET);
    // Whoever left a socket here no longer holds the store: this process does.
    let _ = std::fs::remove_file(&path);
    let Ok(listener) = UnixListener::bind(&path) else {
        return; // best effort: the others run uncached, as without serving
    };
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
    while let Ok(bytes) = read_message(&mut stream) {
        let Some(inner) = store.upgrade() else { return };
        let store = Store { inner };
        let response = match postcard::from_bytes::<Request>(&bytes) {
            Ok(request) => answer(&store, request),
            Err(error) => Response::Failed(format!("unreadable request: {error}")),
        };
        drop(store);
        if write_message(&mut stream, &response).is_err() {
            return;
        }
    }
}

fn answer(store: &Store, request: Request<'_>) -> Response {
    let result = match request {
        // The holder counts the others' hits and misses with its own, so the store's
        // counters, persisted by the holder, cover every process.
        Request::Get(key) => store.lookup(&key).map(|hit| {
            if hit.is_some() {
                store.add_hits(1);
            }
            Response::Found(hit.map(|hit| (hit.output, hit.bytes.to_vec(), hit.expires_ms)))
        }),
        Request::Put {
            entry,
            key,
            output,
            bytes,
            inputs,
        } => store
            .insert(&entry, &key, output, bytes, &inputs)
            .map(|()| {
                store.count_miss();
                Response::Done
            }),
        Request::Record(info) => store.write_function(info).map(|()| Response::Done),
    };
    result.unwrap_or_else(|error| Response::Failed(error.to_string()))
}

/// Stops serving: the socket file goes, and the accepting thread is woken to see it.
pub(super) fn stop(dir: &Path) {
    let path = dir.join(SOCKET);
    let _ = UnixStream::connect(&path);
    let _ = std::fs::remove_file(path);
}

/// A connection to the process that holds a store.
pub(crate) struct Remote {
    dir: PathBuf,
    holder: Option<u32>,
    stream: Mutex<UnixStream>,
    /// Set when the connection failed: the holder has gone, and the store must be opened
    /// again — held here, or served by whoever holds it now.
    broken: AtomicBool,
}

impl Remote {
    /// Connects to the holder of the store in `dir`, if it serves one.
    pub(super) fn connect(dir: &Path, holder: Option<u32>) -> Option<Remote> {
        let stream = UnixStream::connect(dir.join(SOCKET)).ok()?;
        stream.set_read_timeout(Some(TIMEOUT)).ok()?;
        stream.set_write_timeout(Some(TIMEOUT)).ok()?;
        Some(Remote {
            dir: dir.to_owned(),
            holder,
            stream: Mutex::new(stream),
            broken: AtomicBool::new(false),
        })
    }

    fn request(&self, request: &Request<'_>) -> Result<Response> {
        let mut stream = self.stream.lock().unwrap_or_else(|p| p.into_inner());
        let exchange = write_message(&mut stream, request).and_then(|()| read_message(&mut stream));
        if exchange.is_err() {
            self.broken.store(true, Ordering::Release);
        }
        let bytes = exchange.map_err(|source| Error::Served {
            dir: self.dir.clone(),
            holder: self.holder,
            detail: source.to_string(),
        })?;
        match postcard::from_bytes(&bytes) {
            Ok(Response::Failed(detail)) => Err(Error::Served {
                dir: self.dir.clone(),
                holder: self.holder,
                detail,
            }),
            Ok(response) => Ok(response),
            Err(error) => Err(Error::Served {
                dir: self.dir.clone(),
                holder: self.holder,
                detail: error.to_string(),
            }),
        }
    }

    pub(super) fn get(&self, key: &Digest) -> Result<Option<Hit>> {
        match self.request(&Request::Get(*key))? {
            Response::Found(found) => Ok(found.map(|(output, bytes, expires_ms)| Hit {
                output,
                bytes: bytes.into(),
                expires_ms,
            })),
            _ => Ok(None),
        }
    }

    pub(super) fn put(
        &self,
        entry: &NewEntry<'_>,
        key: &Digest,
        output: Digest,
        bytes: &[u8],
        inputs: &[Digest],
    ) -> Result<()> {
        self.request(&Request::Put {
            entry: entry.clone(),
            key: *key,
            output,
            bytes,
            inputs: inputs.to_vec(),
        })
        .map(drop)
    }

    pub(super) fn record(&self, info: &FunctionInfo) -> Result<()> {
        self.request(&Request::Record(info.clone())).map(drop)
    }

    /// Whether the connection to the holder failed.
    pub(crate) fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }

    /// The process serving this store.
    pub(crate) fn holder(&self) -> Option<u32> {
        self.holder
    }
}
