//! Helpers of the shared tier's tests: namespaces, configs and stores; private
//! `redis-server`s (one server, a 3-node cluster, one over TLS) started on free ports and
//! stopped when dropped; child processes playing machines that share one key.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use memo_runtime::{RemoteConfig, Store, with_store};

use super::{Runs, key};

/// The server every test shares, each in a namespace of its own (none flushes it).
pub const SERVER: &str = "redis://127.0.0.1:6379/0";
pub const SECRET: &[u8] = b"the team's secret";

/// A namespace no other test or run uses.
pub fn namespace() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "memo-test-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The tier at `url`, in `namespace`; what the tests leave on the shared server expires
/// within minutes. Every function is shared, however fast (the tests' are).
pub fn config(url: &str, namespace: &str, read_write: bool) -> RemoteConfig {
    RemoteConfig::new(url)
        .namespace(namespace)
        .read_write(read_write)
        .secret(SECRET.to_vec())
        .default_expiry(Duration::from_secs(300))
        .min_compute(Duration::ZERO)
}

/// A store of its own (a fresh directory) behind the tier `config` describes.
pub fn store(config: RemoteConfig) -> Store {
    Store::temporary_builder().remote(config).open().unwrap()
}

pub fn redis(url: &str) -> redis::Connection {
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

/// The keys of the namespace's values on the server (not its indexes or locks).
pub fn keys(url: &str, namespace: &str) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("memo:{namespace}:*"))
        .query(&mut redis(url))
        .unwrap();
    keys.retain(|key| !key.contains(":index:") && !key.contains(":lock:"));
    keys.sort();
    keys
}

/// A `redis-server` of this test's own on `port`, stopped when dropped.
pub struct Server(pub Child);

impl Server {
    pub fn start(port: u16) -> Server {
        Server::with(port, &[])
    }

    /// A server with `extra` settings (`--maxmemory`, …).
    pub fn with(port: u16, extra: &[&str]) -> Server {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        let deadline = Instant::now() + Duration::from_secs(10);
        let url = format!("redis://127.0.0.1:{port}/0");
        while redis::Client::open(url.as_str())
            .unwrap()
            .get_connection_with_timeout(Duration::from_millis(100))
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "redis-server on {port} did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Server(child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port nothing listens on, from the range the tests' own servers use.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// In a child, a machine of its own: a fresh local store behind the tier (`URL`, `NS`),
/// read-write, its locks lapsing after a second; once `GO` exists, one slow call (`SLOW_MS`)
/// of the key every child shares; prints how many times it computed it.
pub fn child_machine() {
    if std::env::var_os("MEMO_TEST_CHILD").is_none() {
        return;
    }
    let var = |name: &str| std::env::var(name).unwrap();
    let slow = Duration::from_millis(var("SLOW_MS").parse().unwrap());
    let tier = config(&var("URL"), &var("NS"), true).lock_ttl(Duration::from_secs(1));
    // In `DIR`, if set: a store the parent holds, which this process reaches through it.
    let machine = match std::env::var_os("DIR") {
        Some(dir) => Store::builder(dir).remote(tier).open().unwrap(),
        None => store(tier),
    };
    println!("ready");
    while !std::path::Path::new(&var("GO")).exists() {
        std::thread::sleep(Duration::from_millis(2));
    }
    let site = crate::site!("shared::slow");
    let runs = Runs::default();
    let value = with_store(&machine, || {
        memo_runtime::call::<memo_runtime::Plain<u64>>(
            site,
            &key(site, 42),
            memo_runtime::Share::typed(),
            || {
                runs.bump();
                println!("computing");
                std::thread::sleep(slow);
                4242
            },
        )
    });
    assert_eq!(value, 4242);
    machine.flush_shared(Duration::from_secs(5));
    println!("computed {}", runs.get());
}

/// A child machine; its output piped.
pub fn machine(url: &str, ns: &str, go: &std::path::Path, slow_ms: u64) -> Child {
    machine_command(url, ns, go, slow_ms).spawn().unwrap()
}

/// `count` machines of their own, started together on one key the first of them computes
/// for `slow_ms`: how many computations they made in all.
pub fn machines_on_one_key(url: &str, ns: &str, count: usize, slow_ms: u64) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let machines: Vec<_> = (0..count)
        .map(|_| {
            let mut child = machine(url, ns, &go, slow_ms);
            let out = said(&mut child, "ready");
            (child, out)
        })
        .collect();
    std::fs::write(&go, "").unwrap();
    machines.into_iter().map(|(c, out)| computed(c, out)).sum()
}

/// A child machine using the store at `dir`.
pub fn machine_in(
    url: &str,
    ns: &str,
    go: &std::path::Path,
    slow_ms: u64,
    dir: &std::path::Path,
) -> Child {
    machine_command(url, ns, go, slow_ms)
        .env("DIR", dir)
        .spawn()
        .unwrap()
}

fn machine_command(url: &str, ns: &str, go: &std::path::Path, slow_ms: u64) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "child_machine_computes_the_shared_key",
            "--exact",
            "--ignored",
        ])
        .args(["--nocapture", "--test-threads=1"])
        .env("MEMO_TEST_CHILD", "1")
        .env("URL", url)
        .env("NS", ns)
        .env("GO", go)
        .env("SLOW_MS", slow_ms.to_string())
        .env_remove("MEMO_DIR")
        .env_remove("MEMO_REMOTE")
        .stdout(Stdio::piped());
    command
}

/// Waits for `child` to print `line`; the rest of its output.
pub fn said(child: &mut Child, line: &str) -> std::io::BufReader<std::process::ChildStdout> {
    use std::io::BufRead;
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    loop {
        text.clear();
        assert!(
            out.read_line(&mut text).unwrap() > 0,
            "the child ended before {line:?}"
        );
        if text.contains(line) {
            return out;
        }
    }
}

/// What a child computed, from the rest of its output, once it has exited well.
pub fn computed(mut child: Child, out: std::io::BufReader<std::process::ChildStdout>) -> u64 {
    use std::io::BufRead;
    let lines: Vec<String> = out.lines().map_while(Result::ok).collect();
    assert!(child.wait().unwrap().success(), "{lines:?}");
    lines
        .iter()
        .find_map(|l| {
            l.split_once("computed ")
                .and_then(|(_, n)| n.trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("no count in {lines:?}"))
}

/// A port free for a cluster node: the node also listens on it + 10000 (its bus).
fn free_node_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let base = 20_000 + (std::process::id() as usize * 37) % 9_000;
    loop {
        let port = (base + NEXT.fetch_add(1, Ordering::Relaxed) * 7) % 10_000 + 20_000;
        let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
        if free(port as u16) && free(port as u16 + 10_000) {
            return port as u16;
        }
    }
}

/// A Redis Cluster of three primaries started by the test, its slots spread over them.
pub struct Cluster {
    pub nodes: Vec<Server>,
    pub ports: Vec<u16>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    pub fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<u16> = (0..3).map(|_| free_node_port()).collect();
        let nodes = ports
            .iter()
            .map(|port| {
                let conf = dir.path().join(format!("nodes-{port}.conf"));
                let dir = dir.path().to_str().unwrap().to_owned();
                Server::with(
                    *port,
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        conf.to_str().unwrap(),
                        "--cluster-node-timeout",
                        "2000",
                        "--dir",
                        &dir,
                    ],
                )
            })
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(ports.iter().map(|port| format!("127.0.0.1:{port}")))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .status()
            .expect("redis-cli runs");
        assert!(created.success(), "redis-cli --cluster create failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in &ports {
            let url = format!("redis://127.0.0.1:{port}/");
            loop {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(&mut redis(&url))
                    .unwrap();
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the cluster did not settle: {info}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Cluster {
            nodes,
            ports,
            _dir: dir,
        }
    }

    /// Its URL, naming every node.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// The URL of node `at` alone.
    pub fn node(&self, at: usize) -> String {
        format!("redis://127.0.0.1:{}/", self.ports[at])
    }

    /// The namespace's values on each node (not its indexes or locks).
    pub fn keys_by_node(&self, namespace: &str) -> Vec<Vec<String>> {
        (0..self.ports.len())
            .map(|at| keys(&self.node(at), namespace))
            .collect()
    }
}

/// A `redis-server` that speaks TLS alone, its certificate signed by a CA of the test's.
pub struct TlsServer {
    _server: Server,
    pub port: u16,
    /// The CA's certificate, PEM.
    pub ca: PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsServer {
    pub fn start() -> TlsServer {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        let openssl = |args: &[&str]| {
            let status = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("openssl runs");
            assert!(status.success(), "openssl {args:?}");
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"],
                &ec[..],
                &["-keyout", "ca.key", "-out", "ca.pem"],
            ]
            .concat()
            .into_iter()
            .chain(["-days", "2", "-subj", "/CN=memo test CA"])
            .collect::<Vec<_>>(),
        );
        openssl(
            &[
                &["req"],
                &ec[..],
                &["-keyout", "server.key", "-out", "server.csr"],
            ]
            .concat()
            .into_iter()
            .chain(["-subj", "/CN=127.0.0.1"])
            .collect::<Vec<_>>(),
        );
        std::fs::write(
            path("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ]);
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--tls-auth-clients",
                "no",
            ])
            .arg("--tls-cert-file")
            .arg(path("server.pem"))
            .arg("--tls-key-file")
            .arg(path("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(path("ca.pem"))
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the TLS server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        TlsServer {
            _server: Server(child),
            port,
            ca: path("ca.pem"),
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}/0", self.port)
    }
}
