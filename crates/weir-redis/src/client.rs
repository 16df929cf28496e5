//! The two kinds of Redis a broker talks to: one server, or a Redis Cluster.
//!
//! The URL decides: `redis://` (or `rediss://`) names one server,
//! `redis+cluster://host:port,host:port,...` (or `rediss+cluster://`) names
//! the seed nodes of a cluster, from which the `redis` crate's cluster client
//! learns the rest (which node serves which slot, and when that changes).
//! Every other module sees one [`Link`], a connection of either kind.
//!
//! ## What a cluster asks of the callers
//!
//! Every script and every command touches keys of one slot: the keys of a
//! partition share its hash tag, those of a topic's metadata or of a group
//! theirs (see `keys.rs`). A pipeline may hold commands of several slots: on
//! a cluster, [`Link::pipe`] sends one pipeline per slot, at the same time,
//! and puts the replies back in the order of the commands (commands without
//! a key, such as `PUBLISH`, go last, after the others answered; a
//! `PUBLISH` goes to the subscribers' node, see [`PubSubNode`]). So a
//! pipeline's commands must not depend on one another across slots, and a
//! pipeline with ignored commands (`.ignore()`) must be read as `()`.

use std::collections::HashMap;
use std::sync::Arc;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo, Slot};
use redis::{Arg, Cmd, FromRedisValue, Pipeline, RedisError, RedisFuture, RedisResult, Value};
use weir_core::BrokerError;

use crate::RedisConfig;

/// The scheme of a cluster URL, without and with TLS.
pub(crate) const CLUSTER_SCHEMES: [&str; 2] = ["redis+cluster://", "rediss+cluster://"];

/// A client of one server or of a cluster; clones share nothing but settings.
#[derive(Clone)]
pub(crate) enum Client {
    Single(redis::Client),
    Cluster {
        client: Box<ClusterClient>,
        /// A client of the first seed node, for pub/sub: a cluster forwards
        /// every `PUBLISH` to every node, so any node serves a subscriber.
        seed: redis::Client,
    },
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The clients hold the credentials: name the kind only.
        f.write_str(match self {
            Client::Single(_) => "Client::Single",
            Client::Cluster { .. } => "Client::Cluster",
        })
    }
}

impl Client {
    /// The client for `config`'s URL.
    pub(crate) fn open(config: &RedisConfig) -> Result<Client, BrokerError> {
        let endpoint = config.endpoint();
        let Some(nodes) = cluster_nodes(&config.url) else {
            return crate::tls::client(&config.url, &endpoint, &config.tls).map(Client::Single);
        };
        let invalid = |e: RedisError| {
            BrokerError::InvalidConfig(format!("redis cluster url `{endpoint}`: {e}"))
        };
        let seed = crate::tls::client(&nodes[0], &endpoint, &config.tls)?;
        let builder = ClusterClient::builder(nodes);
        #[cfg(feature = "tls")]
        let builder = match crate::tls::certificates(&config.tls) {
            Some(certificates) => builder.certs(certificates),
            None => builder,
        };
        let client = builder.build().map_err(invalid)?;
        Ok(Client::Cluster {
            client: Box::new(client),
            seed,
        })
    }

    /// Whether this is a cluster client.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Client::Cluster { .. })
    }

    /// A client of one node, for pub/sub.
    pub(crate) fn pubsub(&self) -> &redis::Client {
        match self {
            Client::Single(c) => c,
            Client::Cluster { seed, .. } => seed,
        }
    }
}

/// The node URLs of a cluster URL (`None`: not a cluster URL): each seed
/// `host:port` as `redis://[credentials@]host:port` (or `rediss://`).
pub(crate) fn cluster_nodes(url: &str) -> Option<Vec<String>> {
    let (scheme, rest) = CLUSTER_SCHEMES
        .iter()
        .find_map(|s| url.strip_prefix(s).map(|rest| (*s, rest)))?;
    let plain = if scheme.starts_with("rediss") {
        "rediss://"
    } else {
        "redis://"
    };
    let (credentials, hosts) = match rest.rfind('@') {
        Some(at) => (&rest[..=at], &rest[at + 1..]),
        None => ("", rest),
    };
    let hosts = hosts.split('/').next().unwrap_or_default();
    let nodes: Vec<String> = hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|h| format!("{plain}{credentials}{h}"))
        .collect();
    Some(nodes)
}

/// A connection of either kind (cheap to clone: both multiplex).
#[derive(Clone)]
pub(crate) enum Link {
    Single(ConnectionManager),
    /// A cluster connection, and the node its `PUBLISH`es go to.
    Cluster(ClusterConnection, Arc<PubSubNode>),
}

/// The node a cluster broker's subscribers listen on (the first seed), to
/// which its `PUBLISH`es go too. A cluster forwards a `PUBLISH` to every
/// node, but answers with the subscribers of the node it was sent to only,
/// and forwards it after answering: a subscriber on another node could
/// still receive a message published before it subscribed. Sent to the
/// subscribers' node, a `PUBLISH` counts all of them, and reaches exactly
/// those subscribed when it was sent.
#[derive(Debug)]
pub(crate) struct PubSubNode {
    host: String,
    port: u16,
}

impl PubSubNode {
    /// The node `client` connects to.
    pub(crate) fn of(client: &redis::Client) -> PubSubNode {
        let (host, port) = match client.get_connection_info().addr() {
            redis::ConnectionAddr::Tcp(host, port)
            | redis::ConnectionAddr::TcpTls { host, port, .. } => (host.clone(), *port),
            other => (other.to_string(), 0),
        };
        PubSubNode { host, port }
    }

    fn route(&self) -> SingleNodeRoutingInfo {
        SingleNodeRoutingInfo::ByAddress {
            host: self.host.clone(),
            port: self.port,
        }
    }
}

/// Whether `cmd` is a `PUBLISH`.
fn is_publish(cmd: &Cmd) -> bool {
    matches!(cmd.args_iter().next(), Some(Arg::Simple(name)) if name.eq_ignore_ascii_case(b"PUBLISH"))
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Link::Single(c) => c.req_packed_command(cmd),
            Link::Cluster(c, node) => {
                if is_publish(cmd) {
                    let route = RoutingInfo::SingleNode(node.route());
                    Box::pin(async move { c.route_command(cmd.clone(), route).await })
                } else {
                    c.req_packed_command(cmd)
                }
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Link::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Link::Cluster(c, _) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Link::Single(c) => c.get_db(),
            Link::Cluster(c, _) => c.get_db(),
        }
    }
}

impl Link {
    /// Whether this is a cluster connection.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Link::Cluster(..))
    }

    /// Runs a pipeline: as it is on one server, one pipeline per slot on a
    /// cluster (see the module doc).
    pub(crate) async fn pipe<T: FromRedisValue>(&mut self, pipe: &Pipeline) -> RedisResult<T> {
        let Link::Cluster(conn, node) = self else {
            return pipe.query_async(self).await;
        };
        let mut groups: Vec<(Option<Slot>, Pipeline, Vec<usize>)> = Vec::new();
        let mut index: HashMap<Option<Slot>, usize> = HashMap::new();
        for (i, cmd) in pipe.cmd_iter().enumerate() {
            let slot = slot_of(cmd);
            let g = *index.entry(slot).or_insert_with(|| {
                groups.push((slot, redis::pipe(), Vec::new()));
                groups.len() - 1
            });
            groups[g].1.add_command(cmd.clone());
            groups[g].2.push(i);
        }
        if groups.len() <= 1 && !pipe.cmd_iter().any(is_publish) {
            return pipe.query_async(conn).await;
        }
        // Keyless commands (PUBLISH) go after the rest.
        groups.sort_by_key(|(slot, _, _)| slot.is_none());
        let keyless = groups
            .last()
            .is_some_and(|(slot, _, _)| slot.is_none())
            .then(|| groups.pop())
            .flatten();
        let replies = futures::future::try_join_all(groups.iter().map(|(_, p, _)| {
            let mut conn = conn.clone();
            async move { p.query_async::<Vec<Value>>(&mut conn).await }
        }))
        .await?;
        let mut all: Vec<Option<Value>> = vec![None; pipe.len()];
        for ((_, _, at), values) in groups.iter().zip(replies) {
            for (i, v) in at.iter().zip(values) {
                all[*i] = Some(v);
            }
        }
        if let Some((_, p, at)) = keyless {
            // `PUBLISH`es to the subscribers' node, the rest as the
            // cluster routes them.
            let (publish, other): (Placed, Placed) = p
                .cmd_iter()
                .cloned()
                .zip(at.iter().copied())
                .partition(|(cmd, _)| is_publish(cmd));
            run_placed(conn, &other, None, &mut all).await?;
            run_placed(conn, &publish, Some(node.route()), &mut all).await?;
        }
        let values = all.into_iter().map(|v| v.unwrap_or(Value::Nil)).collect();
        T::from_redis_value(Value::Array(values)).map_err(RedisError::from)
    }
}

/// Commands of a pipeline, each with its place in it.
type Placed = Vec<(Cmd, usize)>;

/// Runs `cmds` as one pipeline (on the node `route` names, else as the
/// cluster routes them) and puts each reply in its place in `all`.
async fn run_placed(
    conn: &mut ClusterConnection,
    cmds: &Placed,
    route: Option<SingleNodeRoutingInfo>,
    all: &mut [Option<Value>],
) -> RedisResult<()> {
    if cmds.is_empty() {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    for (cmd, _) in cmds {
        pipe.add_command(cmd.clone());
    }
    let values: Vec<Value> = match route {
        Some(route) => conn.route_pipeline(pipe, 0, cmds.len(), route).await?,
        None => pipe.query_async(conn).await?,
    };
    for ((_, i), v) in cmds.iter().zip(values) {
        all[*i] = Some(v);
    }
    Ok(())
}

/// The slot of a command's first key, for the commands Weir pipelines:
/// `EVALSHA sha numkeys key...` (none without keys), `PUBLISH` (none: not a
/// key), `XGROUP`/`XINFO` (a subcommand, then the key), `XREADGROUP` (the
/// first stream), and the rest, whose first argument is a key.
fn slot_of(cmd: &Cmd) -> Option<Slot> {
    let mut args = cmd.args_iter().filter_map(|a| match a {
        Arg::Simple(bytes) => Some(bytes),
        _ => None,
    });
    let name = args.next()?.to_ascii_uppercase();
    let key = match name.as_slice() {
        b"EVALSHA" | b"EVAL" => {
            let _sha = args.next()?;
            let numkeys = args.next()?;
            if numkeys == b"0" {
                return None;
            }
            args.next()?
        }
        b"PUBLISH" | b"SCRIPT" | b"PING" => return None,
        // The first stream after `STREAMS`.
        b"XREADGROUP" | b"XREAD" => {
            args.find(|a| a.eq_ignore_ascii_case(b"STREAMS"))?;
            args.next()?
        }
        // A subcommand first, then the key.
        b"XGROUP" | b"XINFO" => {
            let _subcommand = args.next()?;
            args.next()?
        }
        _ => args.next()?,
    };
    Some(Slot::for_key(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_name_every_seed_with_the_credentials() {
        assert_eq!(cluster_nodes("redis://127.0.0.1:6379"), None);
        assert_eq!(
            cluster_nodes("redis+cluster://u:pw@10.0.0.1:7000,10.0.0.2:7001/").as_deref(),
            Some(
                &[
                    "redis://u:pw@10.0.0.1:7000".to_owned(),
                    "redis://u:pw@10.0.0.2:7001".to_owned()
                ][..]
            )
        );
        assert_eq!(
            cluster_nodes("rediss+cluster://h:1").as_deref(),
            Some(&["rediss://h:1".to_owned()][..])
        );
    }

    #[test]
    fn commands_are_routed_by_their_first_key() {
        let key = "{weir:t:0}:stream";
        let mut evalsha = redis::cmd("EVALSHA");
        evalsha.arg("abc").arg(2).arg(key).arg("{weir:t:0}:end");
        assert_eq!(slot_of(&evalsha), Some(Slot::for_key(key)));
        assert_eq!(
            slot_of(redis::cmd("HGET").arg(key).arg("f")),
            Some(Slot::for_key(key))
        );
        assert_eq!(slot_of(redis::cmd("PUBLISH").arg("ch").arg("m")), None);
        let xgroup = redis::cmd("XGROUP").arg("CREATE").arg(key).arg("g").clone();
        assert_eq!(slot_of(&xgroup), Some(Slot::for_key(key)));
        let read = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("g")
            .arg("m")
            .arg("STREAMS")
            .arg(key)
            .arg(">")
            .clone();
        assert_eq!(slot_of(&read), Some(Slot::for_key(key)));
    }
}
