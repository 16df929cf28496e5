//! Redis brokers for the test targets (`tasks`, `priority`): on a
//! redis-server or a local 3-master Redis Cluster of each test's own, with
//! quick group timings.

use std::time::Duration;

use weir_redis::{RedisBroker, RedisConfig};
use weir_testkit::servers::redis::RedisServer;
use weir_testkit::servers::redis_cluster::RedisCluster;

/// A broker on a redis-server of the test's own.
pub async fn redis() -> (RedisBroker, RedisServer) {
    let server = RedisServer::start();
    (quick(server.url()).await, server)
}

/// A broker on a Redis Cluster of the test's own.
pub async fn redis_cluster() -> (RedisBroker, RedisCluster) {
    let cluster = RedisCluster::start();
    (quick(cluster.url()).await, cluster)
}

async fn quick(url: String) -> RedisBroker {
    let config = RedisConfig::builder(url)
        .session_timeout(Duration::from_millis(1500))
        .heartbeat_interval(Duration::from_millis(300))
        .block_time(Duration::from_millis(50))
        .build()
        .expect("a valid redis config");
    RedisBroker::connect(config).await.expect("connect")
}
