//! Prioritized queues are served by weight on every backend: the scenarios
//! of `scenarios.rs`, run against the memory broker, a redis-server of each
//! test's own, a local 3-master Redis Cluster of each test's own, and Kafka (tansu on a free loopback port, one per test
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

#[path = "../common/redis.rs"]
mod redis_brokers;
use redis_brokers::{redis, redis_cluster};

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
priority_suite!(redis_cluster, crate::redis_cluster);
priority_suite!(kafka, crate::kafka);

/// On Redis a read of only empty streams blocks for the block time. While
/// a full level is paused, the consumer must not start such a read: the
/// full level's next fetch would wait behind it, a whole block time per
/// batch (two seconds here; the 40 messages take a quarter of a second,
/// the time the test spends on the batches).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_a_full_level_is_not_held_behind_a_read_of_empty_ones() {
    use weir_core::{Broker, Consumer, ConsumerConfig, ConsumerEvent, Payload, Topic};
    use weir_tasks::priority::{PriorityConsumer, PriorityLevels, PriorityQueues};

    let server = RedisServer::start();
    let config = RedisConfig::builder(server.url())
        .block_time(Duration::from_secs(2))
        .build()
        .expect("a valid redis config");
    let broker = RedisBroker::connect(config).await.expect("connect");
    let queue = Topic::new(weir_testkit::unique_name("blocked"));
    let levels = PriorityLevels::new([3, 1]).expect("weights");
    broker
        .create_prioritized(&queue, 1, &levels)
        .await
        .expect("create the levels");
    for i in 0..40 {
        broker
            .produce_prioritized(&queue, 1, Payload::new(format!("low-{i}")))
            .await
            .expect("produce low");
    }
    // The inner consumer fetches 10 at a time, the priority consumer hands
    // out 4: a level stays paused for fullness across polls.
    let config = ConsumerConfig::builder(weir_testkit::unique_name("g"))
        .max_poll_records(10)
        .build()
        .expect("a valid consumer config");
    let inner = broker.consumer(config).await.expect("consumer");
    let mut c = PriorityConsumer::new(inner, levels, 4);
    c.subscribe(std::slice::from_ref(&queue))
        .await
        .expect("subscribe");
    // Joining the group may take a block time or two; the batches after
    // the first must not.
    let mut seen = Vec::new();
    while seen.is_empty() {
        if let ConsumerEvent::Messages(batch) = c.poll().await.expect("poll") {
            seen.extend(batch.into_iter().map(|m| m.payload));
        }
    }
    let drain = async {
        while seen.len() < 40 {
            // Working on the batch: the read ahead ends meanwhile.
            tokio::time::sleep(Duration::from_millis(20)).await;
            if let ConsumerEvent::Messages(batch) = c.poll().await.expect("poll") {
                seen.extend(batch.into_iter().map(|m| m.payload));
            }
        }
    };
    tokio::time::timeout(Duration::from_millis(1500), drain)
        .await
        .expect("the backlog drains without waiting out a block time");
    let want: Vec<Payload> = (0..40).map(|i| Payload::new(format!("low-{i}"))).collect();
    assert_eq!(seen, want, "every message, in order");
    c.close().await.expect("close");
    drop(broker);
}
