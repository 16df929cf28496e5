//! A local Redis Cluster of three masters for a test, on free loopback ports.
//!
//! ```no_run
//! use weir_testkit::servers::redis_cluster::RedisCluster;
//! let cluster = RedisCluster::start();
//! let url = cluster.url(); // redis+cluster://127.0.0.1:<p1>,127.0.0.1:<p2>,127.0.0.1:<p3>
//! # let _ = url;
//! ```
//!
//! Each node is a `redis-server --cluster-enabled yes` of its own (found as
//! for [`RedisServer`](super::redis::RedisServer)), bound to 127.0.0.1 and
//! announcing 127.0.0.1. The cluster is formed by hand, the way
//! `redis-cli --cluster create` does it, with no replicas: each node gets a
//! third of the 16384 slots (`CLUSTER ADDSLOTSRANGE`), the first meets the
//! others (`CLUSTER MEET`), and [`RedisCluster::start`] returns once every
//! node reports `cluster_state:ok`. The commands go over a plain RESP
//! exchange on a `TcpStream`: the testkit needs no Redis client.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{START_ATTEMPTS, ServerProcess, free_port, locate, scratch_dir};

/// How many masters the test cluster has.
pub const MASTERS: usize = 3;

/// How long a node may be silent before the others mark it failed: short
/// enough for tests, long enough that a node restarted by a test rejoins
/// before it is.
const NODE_TIMEOUT_MS: u32 = 5000;

/// Settings for a test cluster.
#[derive(Clone, Debug, Default)]
pub struct RedisClusterBuilder {
    append_only: bool,
}

impl RedisClusterBuilder {
    /// Persist every write to an append-only file before replying, so the
    /// data survives [`RedisCluster::restart`] (default: no persistence).
    pub fn append_only(mut self, yes: bool) -> Self {
        self.append_only = yes;
        self
    }

    /// Starts the nodes, forms the cluster and waits until it serves every slot.
    pub fn start(self) -> RedisCluster {
        let program = locate::redis_server().unwrap_or_else(|| {
            panic!(
                "redis-server not found: `{}` installs it",
                locate::INSTALL_COMMAND
            )
        });
        // Ports are picked free, but another test may take one before the
        // node binds it: then the whole cluster starts again on new ones.
        let mut attempt = 0;
        let (nodes, bus_ports) = loop {
            attempt += 1;
            let mut bus_ports = Vec::with_capacity(MASTERS);
            let nodes: Result<Vec<ServerProcess>, String> = (0..MASTERS)
                .map(|_| {
                    let port = free_port();
                    // The bus port is chosen too: Redis's default, the port plus
                    // 10000, may be taken, or past 65535 for an ephemeral port.
                    let bus_port = free_port();
                    bus_ports.push(bus_port);
                    let dir = scratch_dir("redis-cluster");
                    let mut cmd = Command::new(&program);
                    cmd.arg("--port")
                        .arg(port.to_string())
                        .arg("--cluster-port")
                        .arg(bus_port.to_string())
                        .args(["--bind", "127.0.0.1"])
                        .args(["--cluster-enabled", "yes"])
                        .args(["--cluster-config-file", "nodes.conf"])
                        .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
                        .args(["--cluster-announce-ip", "127.0.0.1"])
                        .arg("--dir")
                        .arg(&dir)
                        .args(["--save", ""])
                        .args(["--daemonize", "no"]);
                    if self.append_only {
                        cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
                    } else {
                        cmd.args(["--appendonly", "no"]);
                    }
                    ServerProcess::try_start(
                        "redis-server",
                        cmd,
                        port,
                        dir,
                        Duration::from_secs(10),
                    )
                })
                .collect();
            match nodes {
                Ok(nodes) => break (nodes, bus_ports),
                Err(_) if attempt < START_ATTEMPTS => continue,
                Err(e) => panic!("the test cluster did not start: {e}"),
            }
        };
        let cluster = RedisCluster { nodes, bus_ports };
        cluster.form();
        cluster
    }
}

/// Three running cluster nodes; dropping it kills them and removes their directories.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<ServerProcess>,
    /// Each node's cluster bus port (`--cluster-port`), which `MEET` names.
    bus_ports: Vec<u16>,
}

impl RedisCluster {
    /// Starts a cluster without persistence.
    pub fn start() -> Self {
        RedisCluster::builder().start()
    }

    /// A builder for other settings.
    pub fn builder() -> RedisClusterBuilder {
        RedisClusterBuilder::default()
    }

    /// `redis+cluster://127.0.0.1:<p1>,127.0.0.1:<p2>,127.0.0.1:<p3>`: every
    /// node as a seed.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .ports()
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}", seeds.join(","))
    }

    /// `redis://127.0.0.1:<port>` of each node, for a client of one node.
    pub fn node_urls(&self) -> Vec<String> {
        self.ports()
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    /// The nodes' ports.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(ServerProcess::port).collect()
    }

    /// Kills every node at once (clients see the whole cluster crash);
    /// [`restart`](Self::restart) ends the outage.
    pub fn kill(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
    }

    /// Kills every node and starts them again on the same ports and
    /// directories (their cluster configuration, and with
    /// [`RedisClusterBuilder::append_only`] their data, survive), then waits
    /// until the cluster serves every slot again.
    pub fn restart(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        for node in &mut self.nodes {
            node.restart(Duration::from_secs(10));
        }
        self.wait_ok(Duration::from_secs(20));
    }

    /// Gives each node a third of the slots, introduces them, and waits.
    fn form(&self) {
        let ports = self.ports();
        let per = 16384 / ports.len();
        for (i, port) in ports.iter().enumerate() {
            let first = i * per;
            let last = if i + 1 == ports.len() {
                16383
            } else {
                first + per - 1
            };
            expect_ok(
                *port,
                &[
                    "CLUSTER",
                    "ADDSLOTSRANGE",
                    &first.to_string(),
                    &last.to_string(),
                ],
            );
            // Distinct epochs, so no collision has to be resolved first.
            expect_ok(
                *port,
                &["CLUSTER", "SET-CONFIG-EPOCH", &(i + 1).to_string()],
            );
        }
        for (port, bus_port) in ports.iter().zip(&self.bus_ports).skip(1) {
            expect_ok(
                ports[0],
                &[
                    "CLUSTER",
                    "MEET",
                    "127.0.0.1",
                    &port.to_string(),
                    &bus_port.to_string(),
                ],
            );
        }
        self.wait_ok(Duration::from_secs(20));
    }

    /// Waits until every node knows every other and serves every slot.
    fn wait_ok(&self, within: Duration) {
        let deadline = Instant::now() + within;
        let ports = self.ports();
        let known = format!("cluster_known_nodes:{}", ports.len());
        loop {
            let ok = ports.iter().all(|p| {
                command(*p, &["CLUSTER", "INFO"])
                    .is_ok_and(|info| info.contains("cluster_state:ok") && info.contains(&known))
            });
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the test cluster on ports {ports:?} was not ready within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn expect_ok(port: u16, args: &[&str]) {
    match command(port, args) {
        Ok(reply) if reply == "OK" => {}
        other => panic!("{args:?} on 127.0.0.1:{port}: {other:?}"),
    }
}

/// Sends one command and reads a simple, error or bulk-string reply.
fn command(port: u16, args: &[&str]) -> Result<String, String> {
    let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    let mut stream = TcpStream::connect_timeout(&addr.into(), Duration::from_secs(2))
        .map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut request = format!("*{}\r\n", args.len());
    for a in args {
        request.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    let line = line.trim_end();
    match line.split_at_checked(1) {
        Some(("+", rest)) => Ok(rest.to_owned()),
        Some(("-", rest)) => Err(rest.to_owned()),
        Some(("$", len)) => {
            let len: usize = len.parse().map_err(|_| format!("bad reply `{line}`"))?;
            let mut body = vec![0; len + 2];
            std::io::Read::read_exact(&mut reader, &mut body).map_err(|e| e.to_string())?;
            body.truncate(len);
            String::from_utf8(body).map_err(|e| e.to_string())
        }
        _ => Err(format!("unexpected reply `{line}`")),
    }
}
