//! What the tier talks to: one Redis server, or a Redis Cluster (feature `remote-cluster`),
//! reached over TCP or TLS (feature `remote-tls`); and batches of commands sent in one
//! round trip a server either way.

use std::time::Duration;

use redis::{Cmd, ConnectionLike, RedisResult, Value};

use super::config::redacted;

/// How long connecting may take.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_millis(100);
/// How long one read or write on a connection may take.
pub(super) const IO_TIMEOUT: Duration = Duration::from_millis(250);

/// A server to connect to.
pub(super) enum Server {
    One(redis::Client),
    #[cfg(feature = "remote-cluster")]
    Cluster(redis::cluster::ClusterClient),
}

/// One connection: to a server, or to each node of a cluster that was needed.
pub(crate) enum Con {
    One(redis::Connection),
    #[cfg(feature = "remote-cluster")]
    Cluster(Box<redis::cluster::ClusterConnection>),
}

/// The scheme of a cluster's URL: `redis+cluster://[user:password@]host:port,host:port`
/// (`rediss+cluster://` over TLS).
const CLUSTER: &str = "+cluster://";

impl Server {
    /// The server `url` names; `ca` is a PEM file of the authority that signed a TLS
    /// server's certificate, when it is not one the system trusts.
    pub(super) fn new(url: &str, ca: Option<&std::path::Path>) -> Result<Server, String> {
        let shown = redacted(url);
        let is_tls = url.starts_with("rediss");
        if is_tls && !cfg!(feature = "remote-tls") {
            return Err(format!(
                "{shown} is a TLS address, and memo was built without its `remote-tls` feature"
            ));
        }
        let root = match ca {
            Some(path) if is_tls => Some(std::fs::read(path).map_err(|error| {
                format!(
                    "the certificate authority file {} cannot be read: {error}",
                    path.display()
                )
            })?),
            _ => None,
        };
        install_crypto();
        let bad = |error: redis::RedisError| format!("{shown} is not a Redis URL: {error}");
        if let Some((scheme, rest)) = url.split_once(CLUSTER) {
            #[cfg(feature = "remote-cluster")]
            return cluster(scheme, rest, root).map_err(bad);
            #[cfg(not(feature = "remote-cluster"))]
            {
                let _ = (scheme, rest);
                return Err(format!(
                    "{shown} is a cluster address, and memo was built without its `remote-cluster` feature"
                ));
            }
        }
        let client = match root {
            Some(root) => with_root(url, root),
            None => redis::Client::open(url),
        };
        client.map(Server::One).map_err(bad)
    }

    /// A new connection, its timeouts set.
    pub(super) fn connect(&self) -> RedisResult<Con> {
        match self {
            Server::One(client) => {
                let connection = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
                connection.set_read_timeout(Some(IO_TIMEOUT))?;
                connection.set_write_timeout(Some(IO_TIMEOUT))?;
                Ok(Con::One(connection))
            }
            #[cfg(feature = "remote-cluster")]
            Server::Cluster(client) => client
                .get_connection()
                .map(|con| Con::Cluster(Box::new(con))),
        }
    }
}

#[cfg(feature = "remote-tls")]
fn with_root(url: &str, root: Vec<u8>) -> RedisResult<redis::Client> {
    let certificates = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(root),
    };
    redis::Client::build_with_tls(url, certificates)
}

#[cfg(not(feature = "remote-tls"))]
fn with_root(url: &str, _root: Vec<u8>) -> RedisResult<redis::Client> {
    redis::Client::open(url)
}

/// rustls needs one crypto provider for the process; it is ring's unless the program
/// installed another.
fn install_crypto() {
    #[cfg(feature = "remote-tls")]
    {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The URLs of the nodes a cluster URL names (`rest` follows `<scheme>+cluster://`):
/// each with the URL's user, password and fragment (`#insecure`).
#[cfg_attr(not(feature = "remote-cluster"), allow(dead_code))]
fn cluster_nodes(scheme: &str, rest: &str) -> Vec<String> {
    let (userinfo, hosts) = match rest.rsplit_once('@') {
        Some((userinfo, hosts)) => (format!("{userinfo}@"), hosts),
        None => (String::new(), rest),
    };
    let (hosts, fragment) = match hosts.split_once('#') {
        Some((hosts, fragment)) => (hosts, format!("#{fragment}")),
        None => (hosts, String::new()),
    };
    let hosts = hosts.split('/').next().unwrap_or_default();
    hosts
        .split(',')
        .map(str::trim)
        .filter(|host| !host.is_empty())
        .map(|host| format!("{scheme}://{userinfo}{host}{fragment}"))
        .collect()
}

#[cfg(feature = "remote-cluster")]
fn cluster(scheme: &str, rest: &str, root: Option<Vec<u8>>) -> RedisResult<Server> {
    let nodes = cluster_nodes(scheme, rest);
    if nodes.is_empty() {
        return Err(redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "a cluster URL names no node",
        )));
    }
    let builder = redis::cluster::ClusterClientBuilder::new(nodes)
        .connection_timeout(CONNECT_TIMEOUT)
        .response_timeout(IO_TIMEOUT)
        // A moved slot is followed; a node that fails is not waited for long.
        .retries(2)
        .min_retry_wait(5)
        .max_retry_wait(50);
    #[cfg(feature = "remote-tls")]
    let builder = match root {
        Some(root) => builder.certs(redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root),
        }),
        None => builder,
    };
    #[cfg(not(feature = "remote-tls"))]
    drop(root);
    builder.build().map(Server::Cluster)
}

impl ConnectionLike for Con {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        match self {
            Con::One(con) => con.req_packed_command(cmd),
            #[cfg(feature = "remote-cluster")]
            Con::Cluster(con) => con.req_packed_command(cmd),
        }
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        match self {
            Con::One(con) => con.req_packed_commands(cmd, offset, count),
            #[cfg(feature = "remote-cluster")]
            Con::Cluster(con) => con.req_packed_commands(cmd, offset, count),
        }
    }

    fn req_command(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        match self {
            Con::One(con) => con.req_command(cmd),
            #[cfg(feature = "remote-cluster")]
            Con::Cluster(con) => con.req_command(cmd),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Con::One(con) => con.get_db(),
            #[cfg(feature = "remote-cluster")]
            Con::Cluster(con) => con.get_db(),
        }
    }

    fn supports_pipelining(&self) -> bool {
        match self {
            Con::One(con) => con.supports_pipelining(),
            #[cfg(feature = "remote-cluster")]
            Con::Cluster(con) => con.supports_pipelining(),
        }
    }

    fn check_connection(&mut self) -> bool {
        match self {
            Con::One(con) => con.check_connection(),
            #[cfg(feature = "remote-cluster")]
            Con::Cluster(con) => con.check_connection(),
        }
    }

    fn is_open(&self) -> bool {
        match self {
            Con::One(con) => con.is_open(),
            #[cfg(feature = "remote-cluster")]
            Con::Cluster(con) => con.is_open(),
        }
    }
}

/// Commands sent together: one round trip to a server; on a cluster, one to each node
/// their keys live on (keys of one batch may sit on many slots).
#[derive(Default)]
pub(crate) struct Batch {
    cmds: Vec<Cmd>,
}

impl Batch {
    /// Adds the command `name`; its arguments follow.
    pub(crate) fn cmd(&mut self, name: &str) -> &mut Cmd {
        let at = self.cmds.len();
        self.cmds.push(redis::cmd(name));
        &mut self.cmds[at]
    }

    /// How many commands it holds.
    pub(crate) fn len(&self) -> usize {
        self.cmds.len()
    }
}

impl Con {
    /// Sends `batch`: each command's own answer, in order, or an error when the batch as a
    /// whole got none (the connection failed).
    pub(crate) fn send(&mut self, batch: Batch) -> RedisResult<Vec<RedisResult<Value>>> {
        if batch.cmds.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Con::One(con) => {
                let mut pipe = redis::pipe();
                pipe.ignore_errors();
                for cmd in batch.cmds {
                    pipe.add_command(cmd);
                }
                pipe.query(con)
            }
            #[cfg(feature = "remote-cluster")]
            Con::Cluster(con) => {
                let count = batch.cmds.len();
                let mut pipe = redis::cluster::cluster_pipe();
                for cmd in batch.cmds {
                    pipe.add_command(cmd);
                }
                match pipe.query::<Vec<Value>>(con) {
                    Ok(values) => Ok(values.into_iter().map(Ok).collect()),
                    Err(error) => {
                        let Some(refused) = error.clone().into_server_errors() else {
                            return Err(error);
                        };
                        // A cluster's pipeline names the commands a node refused, not what
                        // the others answered: those are taken as done, which is safe for
                        // what the tier sends (a value named in its index, a key that may
                        // already be gone).
                        let mut answers: Vec<RedisResult<Value>> =
                            (0..count).map(|_| Ok(Value::Okay)).collect();
                        for (at, refusal) in refused.iter() {
                            if let Some(answer) = answers.get_mut(*at) {
                                *answer = Err(refusal.clone().into());
                            }
                        }
                        Ok(answers)
                    }
                }
            }
        }
    }
}

/// The answers of a batch, or the first command's refusal when one was refused.
pub(crate) fn every(answers: Vec<RedisResult<Value>>) -> RedisResult<Vec<Value>> {
    answers.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_url_names_each_node_with_its_credentials() {
        assert_eq!(
            cluster_nodes("rediss", ":pw@a:7000, b:7001/0#insecure"),
            [
                "rediss://:pw@a:7000#insecure",
                "rediss://:pw@b:7001#insecure"
            ]
        );
        assert_eq!(cluster_nodes("redis", "a:1"), ["redis://a:1"]);
        assert!(cluster_nodes("redis", " , /").is_empty());
    }

    #[test]
    fn an_address_this_build_cannot_reach_says_which_feature_it_needs() {
        if !cfg!(feature = "remote-tls") {
            let why = Server::new("rediss://cache:6380", None).err().unwrap();
            assert!(why.contains("remote-tls"), "{why}");
        }
        if !cfg!(feature = "remote-cluster") {
            let why = Server::new("redis+cluster://a:1,b:2", None).err().unwrap();
            assert!(why.contains("remote-cluster"), "{why}");
        }
        let why = Server::new("redis+cluster://:hunter2@/", None).err();
        if let Some(why) = why {
            assert!(!why.contains("hunter2"), "{why}");
        }
    }
}
