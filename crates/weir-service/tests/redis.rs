//! The service scenarios on a real redis-server of each test's own, on a
//! free loopback port, and on a local 3-master Redis Cluster of each test's
//! own (`cluster::`).

mod scenarios;

use std::time::Duration;

use weir_redis::{RedisBroker, RedisConfig};
use weir_testkit::servers::redis::RedisServer;
use weir_testkit::servers::redis_cluster::RedisCluster;

async fn broker() -> (RedisBroker, RedisServer) {
    let server = RedisServer::start();
    (quick(server.url()).await, server)
}

async fn cluster_broker() -> (RedisBroker, RedisCluster) {
    let cluster = RedisCluster::start();
    (quick(cluster.url()).await, cluster)
}

/// A broker with quick group timings.
async fn quick(url: String) -> RedisBroker {
    let config = RedisConfig::builder(url)
        .session_timeout(Duration::from_millis(1500))
        .heartbeat_interval(Duration::from_millis(300))
        .block_time(Duration::from_millis(50))
        .build()
        .expect("a valid redis config");
    RedisBroker::connect(config)
        .await
        .expect("the test server answers")
}

service_scenarios!(broker);

mod cluster {
    use super::scenarios;

    crate::service_scenarios!(super::cluster_broker);
}
