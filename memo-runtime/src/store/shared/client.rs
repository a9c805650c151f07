//! Connections to the Redis server, with bounded timeouts and a circuit breaker: a server
//! that is down, slow or refusing costs a call at most one timeout, after which the tier is
//! skipped (one atomic load a call) until a backoff has passed and one call tries again.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::config::redacted;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(100);
/// How long one read or write on a connection may take.
const IO_TIMEOUT: Duration = Duration::from_millis(250);
/// The first and the longest wait before a failed server is tried again.
const BACKOFF: (u64, u64) = (100, 30_000);
/// Idle connections kept for the next caller.
const IDLE: usize = 8;

/// A Redis server, reached through a few reused connections.
pub(crate) struct Client {
    client: redis::Client,
    idle: Mutex<Vec<redis::Connection>>,
    breaker: Breaker,
    /// The URL as messages show it.
    shown: String,
}

/// Why an operation did not reach an answer.
#[derive(Debug)]
pub(crate) enum Unreached {
    /// The breaker is open: the server failed a moment ago.
    Open,
    /// The server answered with an error (out of memory, a refused write, …).
    Refused(String),
    /// The server could not be reached, or did not answer in time (said once, as the
    /// breaker opens).
    Failed,
}

impl Client {
    /// A client of the server at `url`; nothing is connected until it is used.
    pub(crate) fn new(url: &str) -> Result<Client, String> {
        let client = redis::Client::open(url)
            .map_err(|error| format!("{} is not a Redis URL: {error}", redacted(url)))?;
        Ok(Client {
            client,
            idle: Mutex::new(Vec::new()),
            breaker: Breaker::default(),
            shown: redacted(url),
        })
    }

    /// The URL, its password hidden.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// Whether the breaker is open now.
    pub(crate) fn is_open(&self) -> bool {
        !self.breaker.is_closed()
    }

    /// Runs `op` on a connection, unless the breaker is open.
    pub(crate) fn run<T>(
        &self,
        op: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, Unreached> {
        if !self.breaker.allows() {
            return Err(Unreached::Open);
        }
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut connection = match idle {
            Some(connection) => connection,
            None => match self.connect() {
                Ok(connection) => connection,
                Err(error) => return Err(self.failed(error.to_string())),
            },
        };
        // The client parses what a server sends: should it panic on it, the caller still
        // gets its value, computed, and the connection is not used again.
        let outcome = match crate::contain::quietly(|| op(&mut connection)) {
            Ok(outcome) => outcome,
            Err(panic) => return Err(self.failed(format!("the Redis client panicked: {panic}"))),
        };
        match outcome {
            Ok(value) => {
                self.breaker.succeeded();
                let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
                if idle.len() < IDLE {
                    idle.push(connection);
                }
                Ok(value)
            }
            // The server answered: the connection is sound, the server up.
            Err(error)
                if !error.is_io_error()
                    && !error.is_timeout()
                    && !error.is_connection_dropped() =>
            {
                self.breaker.succeeded();
                let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
                if idle.len() < IDLE {
                    idle.push(connection);
                }
                Err(Unreached::Refused(error.to_string()))
            }
            // A connection that failed is never used again: a late answer on it would be
            // read as the next request's.
            Err(error) => Err(self.failed(error.to_string())),
        }
    }

    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let connection = self.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
        connection.set_read_timeout(Some(IO_TIMEOUT))?;
        connection.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(connection)
    }

    /// Opens the breaker for `error`, and says so once.
    fn failed(&self, error: String) -> Unreached {
        self.breaker.failed();
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
        crate::warn::once(&format!("shared tier {}", self.shown), || {
            format!(
                "the shared tier at {} cannot be reached ({error}); calls use the local store alone, and the tier is tried again with backoff",
                self.shown
            )
        });
        Unreached::Failed
    }
}

/// Closed, or open until a moment; half-open lets one call through.
struct Breaker {
    /// When calls may try the server again, in ms since `start`; 0 when closed.
    open_until: AtomicU64,
    /// The next wait after a failure.
    backoff: AtomicU64,
    start: Instant,
}

impl Default for Breaker {
    fn default() -> Breaker {
        Breaker {
            open_until: AtomicU64::new(0),
            backoff: AtomicU64::new(BACKOFF.0),
            start: Instant::now(),
        }
    }
}

impl Breaker {
    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64 + 1
    }

    fn is_closed(&self) -> bool {
        self.open_until.load(Ordering::Acquire) == 0
    }

    /// Whether a call may try the server: always when closed; when open, once its time
    /// has come (that call claims the next wait, so the others keep skipping).
    #[inline]
    fn allows(&self) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        let now = self.now();
        now >= until
            && self
                .open_until
                .compare_exchange(
                    until,
                    now + self.backoff.load(Ordering::Acquire),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
    }

    fn succeeded(&self) {
        if self.open_until.load(Ordering::Acquire) != 0 {
            self.open_until.store(0, Ordering::Release);
            self.backoff.store(BACKOFF.0, Ordering::Release);
            crate::warn::debug(|| "the shared tier answers again".into());
        }
    }

    fn failed(&self) {
        let wait = self.backoff.load(Ordering::Acquire);
        self.open_until.store(self.now() + wait, Ordering::Release);
        self.backoff
            .store((wait * 2).min(BACKOFF.1), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_opens_backs_off_and_closes_again() {
        let breaker = Breaker::default();
        assert!(breaker.allows());
        breaker.failed();
        assert!(!breaker.allows(), "open right after a failure");
        std::thread::sleep(Duration::from_millis(120));
        assert!(breaker.allows(), "one call tries again after the backoff");
        assert!(!breaker.allows(), "and only one");
        breaker.failed();
        assert_eq!(
            breaker.backoff.load(Ordering::Relaxed),
            400,
            "the wait doubles"
        );
        breaker.succeeded();
        assert!(breaker.is_closed() && breaker.allows());
        assert_eq!(breaker.backoff.load(Ordering::Relaxed), BACKOFF.0);
    }
}
