//! The service scenarios on a real redis-server of each test's own, on a
//! free loopback port.

mod scenarios;

use std::time::Duration;

use weir_redis::{RedisBroker, RedisConfig};
use weir_testkit::servers::redis::RedisServer;

async fn broker() -> (RedisBroker, RedisServer) {
    let server = RedisServer::start();
    let config = RedisConfig::builder(server.url())
        .session_timeout(Duration::from_millis(1500))
        .heartbeat_interval(Duration::from_millis(300))
        .block_time(Duration::from_millis(50))
        .build()
        .expect("a valid redis config");
    let broker = RedisBroker::connect(config)
        .await
        .expect("the test server answers");
    (broker, server)
}

service_scenarios!(broker);
