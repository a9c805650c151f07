//! The shared tier on the other shapes a team's Redis takes: a 3-node Redis Cluster the test
//! starts (values, locks and indexes spread over its slots and nodes), and a server that
//! speaks TLS alone, its certificate signed by a CA of the test's.

mod support;

use std::time::{Duration, Instant};

use memo_runtime::Store;
use support::shared::{Cluster, TlsServer, config, namespace, store};
use support::{Runs, square};

#[test]
#[ignore = "run by a parent test in a child process"]
fn child_machine_computes_the_shared_key() {
    support::shared::child_machine();
}

#[test]
fn a_cluster_shares_results_whose_keys_live_on_every_node() {
    let cluster = Cluster::start();
    let url = cluster.url();
    let ns = namespace();
    let site = site!(
        "shared::clustered",
        fingerprint = [3; 32],
        ttl = None,
        tags = &["ml"]
    );
    let writer = store(config(&url, &ns, true));
    let runs = Runs::default();
    for x in 0..60 {
        assert_eq!(square(&writer, site, x, &runs), x * x);
    }
    writer.flush_shared(Duration::from_secs(5));
    let stats = writer.remote_stats().unwrap();
    assert_eq!((stats.writes, stats.errors), (60, 0), "{stats:?}");
    let spread: Vec<usize> = cluster.keys_by_node(&ns).iter().map(Vec::len).collect();
    assert_eq!(spread.iter().sum::<usize>(), 60, "{spread:?}");
    assert!(
        spread.iter().all(|on| *on > 0),
        "the keys sit on every node: {spread:?}"
    );

    // Another machine: every call a remote hit, through whichever node holds the key.
    let reader = store(config(&url, &ns, false));
    let theirs = Runs::default();
    for x in 0..60 {
        assert_eq!(square(&reader, site, x, &theirs), x * x);
    }
    assert_eq!(theirs.get(), 0);
    assert_eq!(reader.remote_stats().unwrap().hits, 60);
    assert!(reader.ping_remote().unwrap().is_ok());

    // Pull walks the namespace's index and fetches from every node.
    let copy = tempfile::tempdir().unwrap();
    let open = |read_write| {
        Store::builder(copy.path())
            .remote(config(&url, &ns, read_write))
            .open()
            .unwrap()
    };
    let pulled = open(false).pull_shared(&mut |_, _| {}).unwrap();
    assert_eq!((pulled.moved, pulled.already), (60, 0));

    // An invalidation removes keys on every node.
    assert_eq!(writer.invalidate_tag("ml").unwrap(), 60);
    let left: usize = cluster.keys_by_node(&ns).iter().map(Vec::len).sum();
    assert_eq!(left, 0);

    // Push sends a store's entries back, to every node.
    let pushed = open(true).push_shared(&mut |_, _| {}).unwrap();
    assert_eq!((pushed.moved, pushed.skipped), (60, 0));
    let back: usize = cluster.keys_by_node(&ns).iter().map(Vec::len).sum();
    assert_eq!(back, 60);
}

#[test]
fn machines_on_a_cluster_compute_one_key_once() {
    let cluster = Cluster::start();
    let url = cluster.url();
    let total = support::shared::machines_on_one_key(&url, &namespace(), 4, 300);
    assert_eq!(total, 1, "one machine computed, the others took its value");
}

#[test]
fn a_cluster_node_that_dies_costs_bounded_waits_and_calls_stay_right() {
    let mut cluster = Cluster::start();
    let url = cluster.url();
    let ns = namespace();
    let writer = store(config(&url, &ns, true));
    let site = site!("shared::node_down");
    for x in 0..30 {
        square(&writer, site, x, &Runs::default());
    }
    writer.flush_shared(Duration::from_secs(5));
    drop(cluster.nodes.remove(1));

    // A machine that never had the values: the keys on the dead node are computed, the
    // others are remote hits, and no call waits long.
    let (slowest, logged) = support::warnings(|| {
        let reader = store(config(&url, &ns, false));
        let runs = Runs::default();
        let mut slowest = Duration::ZERO;
        for x in 0..30 {
            let start = Instant::now();
            assert_eq!(square(&reader, site, x, &runs), x * x);
            slowest = slowest.max(start.elapsed());
        }
        let stats = reader.remote_stats().unwrap();
        assert!(stats.errors >= 1, "the dead node was asked: {stats:?}");
        slowest
    });
    assert!(
        slowest < Duration::from_secs(2),
        "a call waited {slowest:?}"
    );
    let said: Vec<&String> = logged
        .iter()
        .filter(|l| l.contains("shared tier"))
        .collect();
    assert!(said.len() <= 1, "{logged:?}");
}

#[test]
fn a_tls_server_is_reached_with_the_teams_ca_and_refused_without_it() {
    let server = TlsServer::start();
    let url = server.url();
    let ns = namespace();
    let writer = store(config(&url, &ns, true).ca_file(&server.ca));
    let runs = Runs::default();
    for x in 0..10 {
        square(&writer, site!("shared::tls"), x, &runs);
    }
    writer.flush_shared(Duration::from_secs(5));
    let stats = writer.remote_stats().unwrap();
    assert_eq!((stats.writes, stats.errors), (10, 0), "{stats:?}");

    let reader = store(config(&url, &ns, false).ca_file(&server.ca));
    let theirs = Runs::default();
    for x in 0..10 {
        assert_eq!(square(&reader, site!("shared::tls"), x, &theirs), x * x);
    }
    assert_eq!(theirs.get(), 0, "every call a remote hit, over TLS");

    // The server's certificate is not one the system trusts: without the CA, the tier
    // is off for this store (one warning), and every call is still right.
    let (_, logged) = support::warnings(|| {
        let stranger = store(config(&url, &ns, false));
        let runs = Runs::default();
        for x in 0..10 {
            assert_eq!(square(&stranger, site!("shared::tls"), x, &runs), x * x);
        }
        assert_eq!(runs.get(), 10);
        assert!(stranger.remote_stats().unwrap().errors >= 1);
    });
    let said: Vec<&String> = logged
        .iter()
        .filter(|l| l.contains("shared tier"))
        .collect();
    assert_eq!(said.len(), 1, "{logged:?}");

    // `#insecure` at the end of the URL skips the check, as the user asked.
    let insecure = store(config(&format!("{url}#insecure"), &ns, false));
    let runs = Runs::default();
    square(&insecure, site!("shared::tls"), 3, &runs);
    assert_eq!(runs.get(), 0);
}

#[test]
fn a_ca_file_that_cannot_be_read_leaves_the_tier_off_with_one_warning() {
    let ns = namespace();
    let (_, logged) = support::warnings(|| {
        let store =
            store(config("rediss://127.0.0.1:1/0", &ns, true).ca_file("/nonexistent/ca.pem"));
        let runs = Runs::default();
        assert_eq!(square(&store, site!("shared::no_ca"), 4, &runs), 16);
        assert!(store.remote_stats().is_none(), "the tier is off");
    });
    let said: Vec<&String> = logged
        .iter()
        .filter(|l| l.contains("shared tier"))
        .collect();
    assert_eq!(said.len(), 1, "{logged:?}");
    assert!(said[0].contains("certificate authority"), "{said:?}");
}
