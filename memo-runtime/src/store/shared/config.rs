//! How a store reaches its shared tier: `MEMO_REMOTE…` in the environment, or a
//! [`RemoteConfig`] on the [`StoreBuilder`](crate::StoreBuilder).

use std::path::PathBuf;
use std::time::Duration;

/// A shared tier on Redis behind a store: results one machine computed are hits on the
/// others. Without a secret the tier stays off (a value's MAC is what keeps another's
/// bytes out of your store).
///
/// ```
/// let remote = memo::RemoteConfig::new("redis://127.0.0.1:6379/0")
///     .namespace("team-ml")
///     .read_write(true)
///     .secret(b"shared by the team".to_vec());
/// let dir = tempfile::tempdir().unwrap();
/// let store = memo::Store::builder(dir.path()).remote(remote).open().unwrap();
/// # drop(store);
/// ```
#[derive(Clone)]
pub struct RemoteConfig {
    pub(crate) url: String,
    pub(crate) namespace: Option<String>,
    pub(crate) read_write: bool,
    pub(crate) secret: Option<Secret>,
    pub(crate) max_value_bytes: usize,
    pub(crate) default_expiry: Duration,
    pub(crate) lock_ttl: Duration,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) min_compute: Option<Duration>,
}

/// Where the secret comes from.
#[derive(Clone)]
pub(crate) enum Secret {
    Bytes(Vec<u8>),
    File(PathBuf),
}

impl std::fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("url", &redacted(&self.url))
            .field("namespace", &self.namespace)
            .field("read_write", &self.read_write)
            .field("secret", &self.secret.as_ref().map(|_| "…"))
            .field("max_value_bytes", &self.max_value_bytes)
            .finish_non_exhaustive()
    }
}

/// Values past this many bytes stay local.
const MAX_VALUE_BYTES: usize = 4 << 20;
/// How long a machine's lock on a computation lasts unless it is renewed.
const LOCK_TTL: Duration = Duration::from_secs(10);
/// How long a value without a `ttl` lives on the server after it was last read.
const DEFAULT_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

impl RemoteConfig {
    /// The tier at `url`: `redis://[user:password@]host:port/db` for one server,
    /// `redis+cluster://[user:password@]host:port,host:port` for a Redis Cluster (feature
    /// `remote-cluster`; the nodes named are where it starts, the others are found), and
    /// `rediss://…` or `rediss+cluster://…` over TLS (feature `remote-tls`). Read-only, no
    /// secret yet, the namespace taken from each function's crate.
    ///
    /// ```
    /// let tier = memo::RemoteConfig::new("redis://cache.internal:6379");
    /// assert!(!format!("{tier:?}").is_empty());
    /// ```
    pub fn new(url: impl Into<String>) -> RemoteConfig {
        RemoteConfig {
            url: url.into(),
            namespace: None,
            read_write: false,
            secret: None,
            max_value_bytes: MAX_VALUE_BYTES,
            default_expiry: DEFAULT_EXPIRY,
            lock_ttl: LOCK_TTL,
            ca_file: None,
            min_compute: None,
        }
    }

    /// The namespace the keys live in (`memo:<namespace>:…`); by default, the name of
    /// the crate each cached function is in.
    ///
    /// ```
    /// let tier = memo::RemoteConfig::new("redis://cache.internal:6379").namespace("team-ml");
    /// ```
    pub fn namespace(mut self, namespace: impl Into<String>) -> RemoteConfig {
        self.namespace = Some(namespace.into());
        self
    }

    /// Whether this process also writes what it computes (CI does; developers read).
    ///
    /// ```
    /// let tier = memo::RemoteConfig::new("redis://cache.internal:6379").read_write(true);
    /// ```
    pub fn read_write(mut self, read_write: bool) -> RemoteConfig {
        self.read_write = read_write;
        self
    }

    /// The secret shared by everyone using the tier: values are signed and checked with it.
    ///
    /// ```
    /// let tier = memo::RemoteConfig::new("redis://cache.internal:6379").secret(b"a secret the team shares".to_vec());
    /// assert!(!format!("{tier:?}").contains("a secret"), "never shown");
    /// ```
    pub fn secret(mut self, secret: impl Into<Vec<u8>>) -> RemoteConfig {
        self.secret = Some(Secret::Bytes(secret.into()));
        self
    }

    /// The secret, read from `path` when the store opens.
    ///
    /// ```
    /// let tier = memo::RemoteConfig::new("redis://cache.internal:6379").secret_file("/run/secrets/memo");
    /// ```
    pub fn secret_file(mut self, path: impl Into<PathBuf>) -> RemoteConfig {
        self.secret = Some(Secret::File(path.into()));
        self
    }

    /// The largest encoded result sent to the tier (4 MiB by default); larger ones stay
    /// local, counted.
    ///
    /// ```
    /// let tier = memo::RemoteConfig::new("redis://cache.internal:6379").max_value_bytes(16 << 20);
    /// ```
    pub fn max_value_bytes(mut self, bytes: usize) -> RemoteConfig {
        self.max_value_bytes = bytes;
        self
    }

    /// How long a value of a function without `ttl` stays on the server after it was
    /// last read (7 days by default).
    ///
    /// ```
    /// let tier = memo::RemoteConfig::new("redis://cache.internal:6379").default_expiry(std::time::Duration::from_secs(3 * 24 * 3600));
    /// ```
    pub fn default_expiry(mut self, expiry: Duration) -> RemoteConfig {
        self.default_expiry = expiry;
        self
    }

    /// How long a machine's lock on a computation lasts if it stops renewing it (it died):
    /// the time before another machine takes the computation over. 10 s by default.
    ///
    /// ```
    /// let tier = memo::RemoteConfig::new("redis://cache.internal:6379").lock_ttl(std::time::Duration::from_secs(30));
    /// ```
    pub fn lock_ttl(mut self, ttl: Duration) -> RemoteConfig {
        self.lock_ttl = ttl;
        self
    }

    /// How long a function must take to compute for the tier to be asked for it. A
    /// function that computes faster is computed on a local miss, never looked up or
    /// written remotely: the lookup would cost more than it saves. By default, 20 times
    /// the time a lookup takes (measured as the process runs), so that the tier adds at
    /// most 5% to a miss; `Duration::ZERO` shares every function. A function's first
    /// call, before any computation of it was timed, always asks.
    ///
    /// ```
    /// let remote = memo::RemoteConfig::new("redis://cache:6379/0")
    ///     .min_compute(std::time::Duration::from_millis(5));
    /// # drop(remote);
    /// ```
    pub fn min_compute(mut self, least: Duration) -> RemoteConfig {
        self.min_compute = Some(least);
        self
    }

    /// For TLS: the PEM file of the certificate authority that signed the server's
    /// certificate, when the system does not trust it already (a team's own CA).
    ///
    /// ```
    /// let tier = memo::RemoteConfig::new("rediss://cache.internal:6380").ca_file("/etc/ssl/team-ca.pem");
    /// ```
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> RemoteConfig {
        self.ca_file = Some(path.into());
        self
    }

    /// The tier `MEMO_REMOTE` and its companions describe, if `MEMO_REMOTE` is set:
    /// `MEMO_REMOTE_NAMESPACE`, `MEMO_REMOTE_MODE=ro|rw` (`ro` by default),
    /// `MEMO_REMOTE_KEY` or `MEMO_REMOTE_KEY_FILE`, `MEMO_REMOTE_MAX_BYTES`,
    /// `MEMO_REMOTE_CA_FILE`, `MEMO_REMOTE_MIN_COMPUTE_MS`.
    pub(crate) fn from_env() -> Option<RemoteConfig> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut config = RemoteConfig::new(var("MEMO_REMOTE")?.trim());
        config.namespace = var("MEMO_REMOTE_NAMESPACE").map(|ns| ns.trim().to_owned());
        config.read_write = match var("MEMO_REMOTE_MODE").as_deref().map(str::trim) {
            None | Some("ro") => false,
            Some("rw") => true,
            Some(other) => {
                crate::warn::once("MEMO_REMOTE_MODE", || {
                    format!(
                        "MEMO_REMOTE_MODE={other:?} is neither `ro` nor `rw`; the shared tier is read-only"
                    )
                });
                false
            }
        };
        config.secret = var("MEMO_REMOTE_KEY")
            .map(|key| Secret::Bytes(key.into_bytes()))
            .or_else(|| var("MEMO_REMOTE_KEY_FILE").map(|path| Secret::File(path.into())));
        config.ca_file = var("MEMO_REMOTE_CA_FILE").map(|path| PathBuf::from(path.trim()));
        if let Some(raw) = var("MEMO_REMOTE_MIN_COMPUTE_MS") {
            match raw.trim().parse::<f64>() {
                Ok(ms) if ms >= 0.0 && ms.is_finite() => {
                    config.min_compute = Some(Duration::from_secs_f64(ms / 1000.0));
                }
                _ => crate::warn::once("MEMO_REMOTE_MIN_COMPUTE_MS", || {
                    format!(
                        "MEMO_REMOTE_MIN_COMPUTE_MS={raw:?} is not a number of milliseconds; functions faster than 20 lookups are not shared"
                    )
                }),
            }
        }
        if let Some(raw) = var("MEMO_REMOTE_MAX_BYTES") {
            match raw.trim().parse::<usize>() {
                Ok(bytes) => config.max_value_bytes = bytes,
                Err(_) => crate::warn::once("MEMO_REMOTE_MAX_BYTES", || {
                    format!(
                        "MEMO_REMOTE_MAX_BYTES={raw:?} is not a number of bytes; values up to 4 MiB are shared"
                    )
                }),
            }
        }
        Some(config)
    }

    /// The secret's bytes; why not, if the file cannot be read or holds nothing.
    pub(crate) fn secret_bytes(&self) -> Result<Vec<u8>, String> {
        match &self.secret {
            None => Err("no secret is set (MEMO_REMOTE_KEY or MEMO_REMOTE_KEY_FILE)".into()),
            Some(Secret::Bytes(bytes)) if bytes.is_empty() => Err("the secret is empty".into()),
            Some(Secret::Bytes(bytes)) => Ok(bytes.clone()),
            Some(Secret::File(path)) => match std::fs::read(path) {
                Ok(bytes) if bytes.trim_ascii().is_empty() => {
                    Err(format!("the secret file {} is empty", path.display()))
                }
                Ok(bytes) => Ok(bytes.trim_ascii().to_vec()),
                Err(error) => Err(format!(
                    "the secret file {} cannot be read: {error}",
                    path.display()
                )),
            },
        }
    }
}

/// `url` with its password, if any, replaced by `***`.
pub(crate) fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or("", |(user, _)| user);
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_a_message() {
        assert_eq!(
            redacted("redis://:hunter2@cache:6379/0"),
            "redis://:***@cache:6379/0"
        );
        assert_eq!(
            redacted("rediss://ci:hunter2@cache:6380"),
            "rediss://ci:***@cache:6380"
        );
        assert_eq!(redacted("redis://cache:6379"), "redis://cache:6379");
        let config = RemoteConfig::new("redis://:hunter2@cache/0").secret(b"s".to_vec());
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("\"s\""),
            "{shown}"
        );
    }

    #[test]
    fn a_secret_must_be_there_and_not_empty() {
        assert!(RemoteConfig::new("redis://x").secret_bytes().is_err());
        assert!(
            RemoteConfig::new("redis://x")
                .secret(Vec::new())
                .secret_bytes()
                .is_err()
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, "  team secret\n").unwrap();
        let config = RemoteConfig::new("redis://x").secret_file(&file);
        assert_eq!(config.secret_bytes().unwrap(), b"team secret");
        std::fs::write(&file, "\n").unwrap();
        assert!(config.secret_bytes().is_err());
    }
}
