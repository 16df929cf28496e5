//! Prioritized queues are served by weight on every backend: the scenarios
//! of `scenarios.rs`, run against the memory broker, a redis-server of each
//! test's own, and Kafka (tansu on a free loopback port, one per test
//! process, or the cluster named by `WEIR_KAFKA_BOOTSTRAP`).

mod scenarios;

use std::time::Duration;

use weir_kafka::{KafkaBroker, KafkaConfig};
use weir_memory::MemoryBroker;
use weir_redis::{RedisBroker, RedisConfig};
use weir_testkit::servers::redis::RedisServer;
use weir_testkit::servers::tansu;

/// Expands every scenario into a test of module `$backend`, each given a
/// broker (and whatever must outlive it, such as its server) by `$start`.
macro_rules! priority_suite {
    ($backend:ident, $start:path) => {
        priority_suite!(@cases $backend, $start,
            priorities_are_served_by_weight,
            a_dry_level_does_not_hold_the_others_back,
        );
    };
    (@cases $backend:ident, $start:path, $($name:ident),+ $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (broker, _server) = $start().await;
                    crate::scenarios::$name(&broker).await;
                }
            )+
        }
    };
}

async fn memory() -> (MemoryBroker, ()) {
    (MemoryBroker::new(), ())
}

/// A broker on a redis-server of the test's own, with the Redis tests' quick timings.
async fn redis() -> (RedisBroker, RedisServer) {
    let server = RedisServer::start();
    let config = RedisConfig::builder(server.url())
        .session_timeout(Duration::from_millis(1500))
        .heartbeat_interval(Duration::from_millis(300))
        .block_time(Duration::from_millis(50))
        .build()
        .expect("a valid redis config");
    let broker = RedisBroker::connect(config).await.expect("connect");
    (broker, server)
}

/// A broker on the process's tansu, with quick group joins as the Kafka
/// tests have, and fetches that wait at most 100 ms for data: a partition
/// the priority consumer resumes is fetched again within its refill wait
/// (see `PriorityConsumer`).
async fn kafka() -> (KafkaBroker, ()) {
    let config = KafkaConfig::builder(tansu::bootstrap())
        .fast_group_joins()
        .set_consumer("fetch.wait.max.ms", "100")
        .settle_before_leaving(Duration::from_millis(1200))
        .build()
        .expect("a valid kafka config");
    (KafkaBroker::new(config), ())
}

priority_suite!(memory, crate::memory);
priority_suite!(redis, crate::redis);
priority_suite!(kafka, crate::kafka);
