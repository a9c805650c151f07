//! Connections to the Redis server, reused, behind a circuit breaker: a server that is
//! down, slow or refusing costs a call at most one timeout, after which the tier is
//! skipped until a backoff has passed and one call tries again.

use std::sync::Mutex;

use super::breaker::Breaker;
use super::config::redacted;
use super::connection::{Con, Server};

/// Idle connections kept for the next caller.
const IDLE: usize = 8;

/// A Redis server, reached through a few reused connections.
pub(crate) struct Client {
    server: Server,
    idle: Mutex<Vec<Con>>,
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
    /// A client of the server (or cluster) at `url`, trusting the authority in the PEM
    /// file `ca` for TLS; nothing is connected until it is used.
    pub(crate) fn new(url: &str, ca: Option<&std::path::Path>) -> Result<Client, String> {
        Ok(Client {
            server: Server::new(url, ca)?,
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
        op: impl FnOnce(&mut Con) -> redis::RedisResult<T>,
    ) -> Result<T, Unreached> {
        if !self.breaker.allows() {
            return Err(Unreached::Open);
        }
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        // The client parses what a server sends (and, for TLS, what a certificate says):
        // should it panic on it, the caller still gets its value, computed, and the
        // connection is not used again.
        let mut connection = match idle {
            Some(connection) => connection,
            None => match crate::contain::quietly(|| self.server.connect()) {
                Ok(Ok(connection)) => connection,
                Ok(Err(error)) => return Err(self.failed(error.to_string())),
                Err(panic) => {
                    return Err(self.failed(format!("the Redis client panicked: {panic}")));
                }
            },
        };
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
