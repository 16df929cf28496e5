//! A broker on a redis-server of the test's own: the server lives as long as
//! any clone of the broker handle, so every test (nextest runs each in its own
//! process) stops its server when it ends.
//!
//! The same test files run on a local 3-master Redis Cluster too: the test
//! targets whose name ends in `_cluster` (`conformance_cluster.rs`,
//! `recovery_cluster.rs`) include them as a module, and there
//! [`TestBroker::start`] starts a cluster instead of one server.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use weir_core::capability::{Dedup, DelayedDelivery, EventChannel, Permits, ResultStore};
use weir_core::{Broker, BrokerError, ConsumerConfig, Destination, Payload, Produced, Topic};
use weir_redis::{
    RedisAdmin, RedisBroker, RedisConfig, RedisConfigBuilder, RedisConsumer, RedisProducer,
    RedisSubscription,
};
use weir_testkit::servers::redis::{RedisServer, RedisServerBuilder};
use weir_testkit::servers::redis_cluster::RedisCluster;

/// Whether this test target runs on a Redis Cluster (see the module doc).
pub fn on_cluster() -> bool {
    env!("CARGO_CRATE_NAME").ends_with("_cluster")
}

/// One server, or a cluster.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per test
pub enum Server {
    Single(RedisServer),
    Cluster(RedisCluster),
}

impl Server {
    /// What `builder` describes: one server, or on a cluster target a
    /// cluster with the same persistence (other settings apply to one
    /// server only).
    pub fn start(builder: RedisServerBuilder) -> Server {
        if on_cluster() {
            let append_only = builder.is_append_only();
            Server::Cluster(RedisCluster::builder().append_only(append_only).start())
        } else {
            Server::Single(builder.start())
        }
    }

    pub fn url(&self) -> String {
        match self {
            Server::Single(s) => s.url(),
            Server::Cluster(c) => c.url(),
        }
    }

    /// Kills the server (every node) at once: an outage until `restart`.
    pub fn kill(&mut self) {
        match self {
            Server::Single(s) => s.kill(),
            Server::Cluster(c) => c.kill(),
        }
    }

    /// Kills the server (every node) and starts it again, data kept if persisted.
    pub fn restart(&mut self) {
        match self {
            Server::Single(s) => s.restart(),
            Server::Cluster(c) => c.restart(),
        }
    }

    /// The single server (TLS tests).
    pub fn single(&self) -> &RedisServer {
        match self {
            Server::Single(s) => s,
            Server::Cluster(_) => panic!("not a single server"),
        }
    }
}

/// A partition's stream key (see `keys.rs` of weir-redis).
pub fn stream_key(topic: &Topic, index: u32) -> String {
    format!("{}:stream", partition_tag(topic, index))
}

/// A partition's message counter key.
pub fn end_key(topic: &Topic, index: u32) -> String {
    format!("{}:end", partition_tag(topic, index))
}

fn partition_tag(topic: &Topic, index: u32) -> String {
    format!("{{weir:{}:{topic}:{index}}}", topic.as_str().len())
}

/// Test timings: short sessions so crashed members' partitions move quickly.
pub fn fast(url: &str) -> RedisConfigBuilder {
    RedisConfig::builder(url)
        .session_timeout(Duration::from_millis(1500))
        .heartbeat_interval(Duration::from_millis(300))
        .block_time(Duration::from_millis(50))
        .reconnect_timeout(Duration::from_secs(10))
}

/// A Redis broker plus the server it talks to.
#[derive(Clone, Debug)]
pub struct TestBroker {
    pub redis: RedisBroker,
    pub server: Arc<std::sync::Mutex<Server>>,
}

impl TestBroker {
    pub async fn start() -> Self {
        Self::start_with(RedisServer::builder(), |b| b).await
    }

    pub async fn start_with(
        server: weir_testkit::servers::redis::RedisServerBuilder,
        config: impl FnOnce(RedisConfigBuilder) -> RedisConfigBuilder,
    ) -> Self {
        let server = Server::start(server);
        let redis = RedisBroker::connect(config(fast(&server.url())).build().expect("config"))
            .await
            .expect("connect");
        TestBroker {
            redis,
            server: Arc::new(std::sync::Mutex::new(server)),
        }
    }

    /// A broker on a TLS-only server it trusts through the test CA,
    /// presenting the test client certificate when the server requires one.
    #[cfg(feature = "tls")]
    pub async fn start_tls(clients: weir_testkit::servers::redis::ClientAuth) -> Self {
        use weir_testkit::servers::redis::ClientAuth;
        let server = RedisServer::builder().tls(clients.clone()).start();
        let certs = server.certificates().expect("a TLS server").clone();
        let mut config = fast(&server.url()).tls_root_certificate(certs.ca_pem());
        if clients == ClientAuth::Required {
            config = config.tls_client_identity(certs.client_cert_pem(), certs.client_key_pem());
        }
        let redis = RedisBroker::connect(config.build().expect("config"))
            .await
            .expect("connect over TLS");
        TestBroker {
            redis,
            server: Arc::new(std::sync::Mutex::new(Server::Single(server))),
        }
    }

    pub fn url(&self) -> String {
        self.server.lock().expect("server").url()
    }

    /// Runs `cmd` on the server directly (to look at, or tamper with, what
    /// the backend stored).
    pub async fn raw<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> T {
        let nodes = match &*self.server.lock().expect("server") {
            Server::Cluster(cluster) => Some(cluster.node_urls()),
            Server::Single(_) => None,
        };
        if let Some(nodes) = nodes {
            let client = redis::cluster::ClusterClient::new(nodes).expect("client");
            let mut conn = client
                .get_async_connection()
                .await
                .expect("raw cluster connection");
            return cmd
                .query_async(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        }
        let client = redis::Client::open(self.url()).expect("client");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("raw connection");
        cmd.query_async(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
    }

    /// Another handle on the same server with other settings.
    pub async fn other(
        &self,
        config: impl FnOnce(RedisConfigBuilder) -> RedisConfigBuilder,
    ) -> TestBroker {
        let redis = RedisBroker::connect(config(fast(&self.url())).build().expect("config"))
            .await
            .expect("connect");
        TestBroker {
            redis,
            server: Arc::clone(&self.server),
        }
    }
}

impl Broker for TestBroker {
    type Producer = RedisProducer;
    type Consumer = RedisConsumer;
    type Admin = RedisAdmin;

    fn name(&self) -> &'static str {
        self.redis.name()
    }

    async fn producer(&self) -> Result<RedisProducer, BrokerError> {
        self.redis.producer().await
    }

    async fn consumer(&self, config: ConsumerConfig) -> Result<RedisConsumer, BrokerError> {
        self.redis.consumer(config).await
    }

    async fn admin(&self) -> Result<RedisAdmin, BrokerError> {
        self.redis.admin().await
    }
}

impl DelayedDelivery for TestBroker {
    async fn produce_at(
        &self,
        d: Destination,
        p: Payload,
        due: SystemTime,
    ) -> Result<(), BrokerError> {
        self.redis.produce_at(d, p, due).await
    }

    async fn deliver_due(&self, topic: &Topic) -> Result<Vec<Produced>, BrokerError> {
        self.redis.deliver_due(topic).await
    }

    async fn next_due(&self, topic: &Topic) -> Result<Option<SystemTime>, BrokerError> {
        self.redis.next_due(topic).await
    }
}

impl Dedup for TestBroker {
    async fn first_seen(&self, scope: &str, id: &str, ttl: Duration) -> Result<bool, BrokerError> {
        self.redis.first_seen(scope, id, ttl).await
    }

    async fn forget(&self, scope: &str, id: &str) -> Result<bool, BrokerError> {
        self.redis.forget(scope, id).await
    }
}

impl Permits for TestBroker {
    async fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        limit: u32,
        lease: Duration,
    ) -> Result<bool, BrokerError> {
        self.redis.try_acquire(name, holder, limit, lease).await
    }

    async fn release(&self, name: &str, holder: &str) -> Result<bool, BrokerError> {
        self.redis.release(name, holder).await
    }
}

impl ResultStore for TestBroker {
    async fn put_result(&self, id: &str, value: Bytes, ttl: Duration) -> Result<(), BrokerError> {
        self.redis.put_result(id, value, ttl).await
    }

    async fn get_result(&self, id: &str) -> Result<Option<Bytes>, BrokerError> {
        self.redis.get_result(id).await
    }

    async fn put_results(
        &self,
        entries: &[(String, Bytes)],
        ttl: Duration,
    ) -> Result<(), BrokerError> {
        self.redis.put_results(entries, ttl).await
    }

    async fn put_results_publishing(
        &self,
        entries: &[(String, Bytes)],
        ttl: Duration,
        channel: &str,
        events: &[Bytes],
    ) -> Result<(), BrokerError> {
        self.redis
            .put_results_publishing(entries, ttl, channel, events)
            .await
    }

    async fn put_result_if_absent(
        &self,
        id: &str,
        value: Bytes,
        ttl: Duration,
    ) -> Result<bool, BrokerError> {
        self.redis.put_result_if_absent(id, value, ttl).await
    }

    async fn get_results(&self, ids: &[String]) -> Result<Vec<Option<Bytes>>, BrokerError> {
        self.redis.get_results(ids).await
    }

    async fn wait_result(&self, id: &str, timeout: Duration) -> Result<Option<Bytes>, BrokerError> {
        self.redis.wait_result(id, timeout).await
    }
}

impl EventChannel for TestBroker {
    type Subscription = RedisSubscription;

    async fn publish(&self, channel: &str, payload: Bytes) -> Result<u64, BrokerError> {
        self.redis.publish(channel, payload).await
    }

    async fn publish_many(&self, channel: &str, payloads: &[Bytes]) -> Result<(), BrokerError> {
        self.redis.publish_many(channel, payloads).await
    }

    async fn subscribe(&self, channel: &str) -> Result<RedisSubscription, BrokerError> {
        EventChannel::subscribe(&self.redis, channel).await
    }
}
