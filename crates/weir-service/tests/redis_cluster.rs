//! The service scenarios on a local 3-master Redis Cluster of each test's
//! own, on free loopback ports.

mod scenarios;

use std::time::Duration;

use weir_redis::{RedisBroker, RedisConfig};
use weir_testkit::servers::redis_cluster::RedisCluster;

async fn broker() -> (RedisBroker, RedisCluster) {
    let cluster = RedisCluster::start();
    let config = RedisConfig::builder(cluster.url())
        .session_timeout(Duration::from_millis(1500))
        .heartbeat_interval(Duration::from_millis(300))
        .block_time(Duration::from_millis(50))
        .build()
        .expect("a valid redis config");
    let broker = RedisBroker::connect(config)
        .await
        .expect("the test cluster answers");
    (broker, cluster)
}

service_scenarios!(broker);
