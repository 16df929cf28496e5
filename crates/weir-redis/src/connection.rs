//! A connection to Redis that reconnects, retries for a bounded time, and
//! reloads Lua scripts the server forgot (after a restart). It talks to one
//! server or to a Redis Cluster (see `client.rs`).

use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, ErrorKind, FromRedisValue, Pipeline, RedisError, ServerErrorKind};
use tokio::sync::OnceCell;
use tokio::time::Instant;
use weir_core::BrokerError;

use crate::RedisConfig;
use crate::client::{Client, Link, PubSubNode};
use crate::scripts::ALL_SCRIPTS;

/// A multiplexed, self-reconnecting connection; clones share it.
#[derive(Clone)]
pub(crate) struct Conn {
    client: Client,
    /// The link, made on first use; a cluster link that lost every node
    /// is replaced by a new one (see [`Conn::renew`]).
    link: Arc<RwLock<Slot>>,
    response_timeout: Duration,
    endpoint: String,
    reconnect_timeout: Duration,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Conn {
    /// Connects, retrying for a bounded time; `response_timeout` bounds each reply.
    pub(crate) async fn connect(
        client: &Client,
        config: &RedisConfig,
        response_timeout: Duration,
    ) -> Result<Self, BrokerError> {
        let conn = Conn::lazy(client, config, response_timeout);
        conn.manager().await?;
        Ok(conn)
    }

    /// A connection made on first use (no I/O now; needs no runtime yet).
    pub(crate) fn lazy(client: &Client, config: &RedisConfig, response_timeout: Duration) -> Self {
        Conn {
            client: client.clone(),
            link: Arc::new(RwLock::new(Slot::default())),
            response_timeout,
            endpoint: config.endpoint(),
            reconnect_timeout: config.reconnect_timeout,
        }
    }

    /// The current link's slot (its link may not be made yet).
    fn slot(&self) -> Slot {
        self.link
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Drops `stale`, the link a call failed on, so that the next call
    /// makes a new one: unless another caller did already.
    ///
    /// The cluster client keeps a map of nodes and reconnects to the seeds
    /// when it has lost them all; but after every node of a cluster
    /// restarted at once it was seen answering `ClusterConnectionNotFound`
    /// to every call for a minute and more, with the cluster healthy. A new
    /// client, made from the seeds as at start, finds the nodes again.
    fn renew(&self, stale: &Slot) {
        let mut current = self.link.write().unwrap_or_else(PoisonError::into_inner);
        if Arc::ptr_eq(&current.0, &stale.0) {
            tracing::debug!(endpoint = %self.endpoint, "the cluster client lost its nodes; making a new one");
            *current = Slot::default();
        }
    }

    async fn manager(&self) -> Result<Link, BrokerError> {
        self.link_in(&self.slot()).await
    }

    /// The link in `slot`, made now if it is not yet.
    async fn link_in(&self, slot: &Slot) -> Result<Link, BrokerError> {
        let manager = slot
            .0
            .get_or_try_init(|| async {
                let attempt = async {
                    match &self.client {
                        Client::Single(client) => ConnectionManager::new_with_config(
                            client.clone(),
                            manager_config(self.response_timeout),
                        )
                        .await
                        .map(Link::Single),
                        Client::Cluster { client, seed } => {
                            let config = redis::cluster::ClusterConfig::new()
                                .set_connection_timeout(Duration::from_secs(2))
                                .set_response_timeout(self.response_timeout);
                            let node = Arc::new(PubSubNode::of(seed));
                            client
                                .get_async_connection_with_config(config)
                                .await
                                .map(|c| Link::Cluster(c, node))
                        }
                    }
                };
                match tokio::time::timeout(self.reconnect_timeout, attempt).await {
                    Ok(Ok(m)) => Ok(m),
                    Ok(Err(e)) => Err(to_broker_error(&self.endpoint, e)),
                    Err(_) => Err(BrokerError::Unreachable {
                        endpoint: self.endpoint.clone(),
                        reason: format!("no connection within {:?}", self.reconnect_timeout),
                    }),
                }
            })
            .await?;
        Ok(manager.clone())
    }

    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Runs `cmd`, retrying while the server is unreachable (up to the reconnect timeout).
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, BrokerError> {
        self.retrying(|mut conn| async move { cmd.query_async::<T>(&mut conn).await })
            .await
    }

    /// Runs a pipeline, retrying like [`Conn::query`] (the whole pipeline is
    /// re-sent). On a cluster its commands go one pipeline per slot (see
    /// `client.rs`).
    pub(crate) async fn pipe<T: FromRedisValue>(&self, pipe: &Pipeline) -> Result<T, BrokerError> {
        self.retrying(|mut conn| async move { conn.pipe::<T>(pipe).await })
            .await
    }

    /// Runs `call` on the connection until it succeeds or [`Conn::recover`] gives up.
    async fn retrying<T, F, Fut>(&self, call: F) -> Result<T, BrokerError>
    where
        F: Fn(Link) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let started = Instant::now();
        let mut attempt = 0u32;
        let mut reloaded = false;
        loop {
            let slot = self.slot();
            let link = match self.link_in(&slot).await {
                Ok(link) => link,
                // A link made again (see `renew`) while the nodes are
                // still down: tried again like a failed call.
                Err(e) if e.is_transient() => match self.next_wait(started, &mut attempt) {
                    Some(wait) => {
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    None => return Err(e),
                },
                Err(e) => return Err(e),
            };
            let err = match call(link).await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if err.kind() == ErrorKind::ClusterConnectionNotFound {
                self.renew(&slot);
            }
            // A server that forgot the scripts (a restart) gets them again,
            // and the call another try: at once the first time, however
            // many attempts the outage before it took. Later ones wait like
            // any retry, within the reconnect timeout: a cluster whose
            // nodes are still coming back may have had the scripts loaded
            // on only some of them.
            let no_script = is_no_script(&err);
            let err = if no_script {
                match self.load_scripts().await {
                    Ok(()) if !reloaded => {
                        reloaded = true;
                        continue;
                    }
                    Ok(()) => err,
                    Err(e) => e,
                }
            } else {
                err
            };
            self.recover(err, no_script, started, &mut attempt).await?;
        }
    }

    /// Decides whether an error is worth another attempt (a transient
    /// one, or any after scripts were found missing), and waits before it.
    async fn recover(
        &self,
        err: RedisError,
        no_script: bool,
        started: Instant,
        attempt: &mut u32,
    ) -> Result<(), BrokerError> {
        if !no_script && !is_transient(&err) {
            return Err(to_broker_error(&self.endpoint, err));
        }
        let Some(backoff) = self.next_wait(started, attempt) else {
            if !is_transient(&err) {
                return Err(to_broker_error(&self.endpoint, err));
            }
            return Err(BrokerError::Unreachable {
                endpoint: self.endpoint.clone(),
                reason: format!("{err} (retried for {:?})", self.reconnect_timeout),
            });
        };
        tracing::debug!(endpoint = %self.endpoint, error = %err, ?backoff, "redis call failed; retrying");
        tokio::time::sleep(backoff).await;
        Ok(())
    }

    /// The wait before the next attempt (counted in `attempt`), or `None`
    /// once the reconnect timeout since `started` has passed.
    fn next_wait(&self, started: Instant, attempt: &mut u32) -> Option<Duration> {
        if started.elapsed() >= self.reconnect_timeout {
            return None;
        }
        *attempt += 1;
        Some(backoff(*attempt))
    }

    /// Loads every Lua script (a restarted server has none).
    async fn load_scripts(&self) -> Result<(), RedisError> {
        let mut pipe = redis::pipe();
        for s in ALL_SCRIPTS {
            pipe.cmd("SCRIPT").arg("LOAD").arg(s.code()).ignore();
        }
        let Some(mut conn) = self.slot().0.get().cloned() else {
            return Err(RedisError::from((
                ErrorKind::Io,
                "no connection to load the scripts on",
            )));
        };
        tracing::debug!(endpoint = %self.endpoint, "the server has no scripts; loading them");
        if conn.is_cluster() {
            // One command each: the cluster client sends it to every master
            // (a pipeline would reach one node).
            for s in ALL_SCRIPTS {
                redis::cmd("SCRIPT")
                    .arg("LOAD")
                    .arg(s.code())
                    .query_async::<()>(&mut conn)
                    .await?;
            }
            return Ok(());
        }
        pipe.query_async::<()>(&mut conn).await
    }
}

/// The wait before retry `attempt` (from 1): 50 ms, doubling, at most 800 ms.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(25 << attempt.min(5))
}

/// Where a connection's link is kept: empty until first used.
#[derive(Clone, Default)]
struct Slot(Arc<OnceCell<Link>>);

fn manager_config(response_timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_number_of_retries(3)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(1))
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(response_timeout))
}

/// Whether the server did not know a script the call ran: the plain
/// `NOSCRIPT` reply, or one wrapped in a pipeline's failure, at any index.
fn is_no_script(e: &RedisError) -> bool {
    e.kind() == ErrorKind::Server(ServerErrorKind::NoScript)
        || e.clone().into_server_errors().is_some_and(|items| {
            items
                .iter()
                .any(|(_, item)| item.kind() == Some(ServerErrorKind::NoScript))
        })
}

/// Whether retrying later may succeed: the connection broke, timed out, or the
/// server is still loading its data.
pub(crate) fn is_transient(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_timeout()
        || e.kind() == ErrorKind::Server(ServerErrorKind::BusyLoading)
        || e.kind() == ErrorKind::Server(ServerErrorKind::TryAgain)
        // A Redis Cluster whose nodes are restarting, or not yet agreed.
        || e.kind() == ErrorKind::ClusterConnectionNotFound
        || e.kind() == ErrorKind::Server(ServerErrorKind::ClusterDown)
        || e.kind() == ErrorKind::Server(ServerErrorKind::MasterDown)
}

/// A Redis error as a broker error naming the endpoint.
pub(crate) fn to_broker_error(endpoint: &str, e: RedisError) -> BrokerError {
    if is_transient(&e) {
        return BrokerError::Unreachable {
            endpoint: endpoint.to_owned(),
            reason: e.to_string(),
        };
    }
    let code = e.code().unwrap_or_default();
    if e.kind() == ErrorKind::AuthenticationFailed
        || matches!(code, "NOPERM" | "WRONGPASS" | "NOAUTH")
    {
        return BrokerError::Unauthorized {
            reason: e.to_string(),
        };
    }
    BrokerError::backend("redis", e)
}
