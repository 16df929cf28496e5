//! Rebalance storm: StreamProcessor members join, leave and crash every
//! quarter of a second while a backlog drains and more is produced. Every
//! message produced is counted against every one processed: none lost, and
//! duplicates bounded by what the crashed members had not committed (a
//! commit every 100 ms, plus what they had read ahead). A member that
//! leaves gracefully commits what it finished before its partitions move.
//! On memory, on one redis-server and on a local 3-master Redis Cluster;
//! on Kafka (tansu) every 700 ms, several churns inside each of the group's
//! rebalances, which take seconds there.

use std::time::Duration;

use tokio::task::JoinHandle;
use weir::core::{Broker, ConsumerConfig, Payload, Topic};
use weir::memory::MemoryBroker;
use weir_integration_tests::settling_kafka_config;
use weir_kafka::KafkaBroker;
use weir_redis::{RedisBroker, RedisConfig};
use weir_strategies::{
    CommitPolicy, Pipeline, ProcessorError, ProcessorReport, ShutdownHandle, StreamProcessor,
};
use weir_testkit::servers::redis::RedisServer;
use weir_testkit::servers::redis_cluster::RedisCluster;
use weir_testkit::servers::tansu;
use weir_testkit::{Tally, new_topic, produce_spread_through_outages, unique_name};

const PARTITIONS: u32 = 6;
const MAX_POLL: usize = 50;

/// How fast the storm churns and how much work it churns through.
#[derive(Clone, Copy, Debug)]
struct Pace {
    /// Between two churns.
    tick: Duration,
    /// Produced before the storm.
    backlog: u64,
    /// Produced during the storm.
    more: u64,
}

/// Kafka: a group takes seconds to rebalance, so a churn every 700 ms
/// comes inside one rebalance or the next, and the backlog is larger.
const KAFKA: Pace = Pace {
    tick: Duration::from_millis(700),
    backlog: 3000,
    more: 1000,
};

/// Memory and Redis: a churn every quarter of a second.
const QUICK: Pace = Pace {
    tick: Duration::from_millis(250),
    backlog: 2000,
    more: 1000,
};

/// What the storm does at each tick (see [`Pace`]).
#[derive(Clone, Copy, Debug)]
enum Churn {
    Join,
    /// The oldest member shuts down gracefully.
    Leave,
    /// The oldest member's task is aborted: no commit, no goodbye.
    Crash,
}

const STORM: &[Churn] = &[
    Churn::Join,
    Churn::Join,
    Churn::Leave,
    Churn::Join,
    Churn::Crash,
    Churn::Join,
    Churn::Join,
    Churn::Leave,
    Churn::Crash,
    Churn::Join,
    Churn::Leave,
    Churn::Join,
    Churn::Crash,
    Churn::Join,
];

struct Member {
    stop: ShutdownHandle,
    task: JoinHandle<Result<ProcessorReport, ProcessorError>>,
}

async fn join<B: Broker>(broker: &B, topic: &Topic, group: &str, tally: &Tally) -> Member {
    let consumer = broker
        .consumer(
            ConsumerConfig::builder(group)
                .max_poll_records(MAX_POLL)
                .build()
                .expect("consumer config"),
        )
        .await
        .expect("consumer");
    let tally = tally.clone();
    let processor = StreamProcessor::builder(consumer, [topic.clone()], move |_: &_| {
        let tally = tally.clone();
        Pipeline::new()
            .map_async(move |p: Payload| {
                let tally = tally.clone();
                async move {
                    // Slow enough that the backlog outlasts the storm
                    // (some 500 messages a second per member).
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    tally.record(&p);
                    Ok(())
                }
            })
            .commit()
    })
    .commit_policy(CommitPolicy::every(Duration::from_millis(100)))
    .join_timeout(Some(Duration::from_secs(5)))
    .outage_timeout(Duration::from_secs(30))
    .build();
    let stop = processor.shutdown_handle();
    Member {
        stop,
        task: tokio::spawn(processor.run()),
    }
}

async fn storm<B: Broker + Clone + Send + Sync + 'static>(broker: B, pace: Pace) {
    let Pace {
        tick,
        backlog,
        more,
    } = pace;
    let topic = new_topic(&broker, "storm", PARTITIONS).await;
    let producer = broker.producer().await.expect("producer");
    let mut produced = produce_spread_through_outages(
        &producer,
        &topic,
        PARTITIONS,
        0..backlog,
        500,
        Duration::ZERO,
    )
    .await;
    let during = tokio::spawn({
        let topic = topic.clone();
        async move {
            produce_spread_through_outages(
                &producer,
                &topic,
                PARTITIONS,
                backlog..backlog + more,
                100,
                tick * 4 / 3,
            )
            .await
        }
    });
    let group = unique_name("storm");
    let tally = Tally::default();
    let mut members = vec![join(&broker, &topic, &group, &tally).await];
    let (mut crashes, mut leaves) = (0u64, 0u64);
    for churn in STORM {
        tokio::time::sleep(tick).await;
        match churn {
            Churn::Join => members.push(join(&broker, &topic, &group, &tally).await),
            Churn::Leave if members.len() > 1 => {
                let m = members.remove(0);
                m.stop.shutdown();
                let report = tokio::time::timeout(Duration::from_secs(10), m.task)
                    .await
                    .expect("a leaving member stops within its join timeout")
                    .expect("joins")
                    .expect("a leaving member stops cleanly");
                leaves += 1;
                eprintln!("left: {report:?}");
            }
            Churn::Crash if members.len() > 1 => {
                let m = members.remove(0);
                m.task.abort();
                let _ = m.task.await;
                crashes += 1;
            }
            _ => {}
        }
        for m in &members {
            assert!(!m.task.is_finished(), "a member stopped by itself");
        }
    }
    let processed_during_storm = tally.distinct();
    produced.extend(during.await.expect("the producer finishes"));
    assert_eq!(produced.len() as u64, backlog + more);
    assert!(
        (processed_during_storm as u64) < backlog + more,
        "the backlog was still draining when the storm ended ({processed_during_storm})"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !tally.has_all(&produced) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the survivors did not finish: {:?}",
            tally.verdict(&produced).lost.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // All at once, as a deployment stops them: on Kafka, one after another
    // each would wait for the rebalance the one before started.
    for m in &members {
        m.stop.shutdown();
    }
    for m in members {
        m.task
            .await
            .expect("joins")
            .expect("the survivors stop cleanly");
    }
    let verdict = tally.verdict(&produced);
    eprintln!(
        "storm: {crashes} crashes, {leaves} leaves, {processed_during_storm} done during it: {:?} lost, {} duplicates",
        verdict.lost.len(),
        verdict.duplicates
    );
    assert_eq!(verdict.lost, Vec::<u64>::new());
    // A crash redoes at most its uncommitted window: 100 ms of work (some
    // 50 messages at 2 ms each) plus what it had read ahead (a poll of each
    // of its partitions); a graceful leave commits before it goes, and
    // redoes at most what a rebalance caught between a read and a commit.
    let window = 50 + MAX_POLL as u64 * u64::from(PARTITIONS);
    let bound = crashes * window + leaves * MAX_POLL as u64 * u64::from(PARTITIONS);
    assert!(
        verdict.duplicates <= bound,
        "{} duplicates, more than {bound}",
        verdict.duplicates
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebalance_storm_on_memory_loses_nothing_and_duplicates_only_uncommitted_work() {
    storm(MemoryBroker::new(), QUICK).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebalance_storm_on_redis_loses_nothing_and_duplicates_only_uncommitted_work() {
    let server = RedisServer::start();
    storm(storm_redis(server.url()).await, QUICK).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebalance_storm_on_a_redis_cluster_loses_nothing_and_duplicates_only_uncommitted_work() {
    let cluster = RedisCluster::start();
    storm(storm_redis(cluster.url()).await, QUICK).await;
}

/// Quick group joins; members settle before they leave, which tansu needs
/// (see `KafkaConfigBuilder::settle_before_leaving`), so a leave or a crash
/// (a dropped consumer) lands between rebalances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebalance_storm_on_kafka_loses_nothing_and_duplicates_only_uncommitted_work() {
    let broker = KafkaBroker::new(
        settling_kafka_config(tansu::bootstrap())
            .build()
            .expect("config"),
    );
    storm(broker, KAFKA).await;
}

/// A broker whose members' sessions last a second, so that the storm's
/// departures without a goodbye are noticed quickly.
async fn storm_redis(url: String) -> RedisBroker {
    let session = Duration::from_millis(1000);
    RedisBroker::connect(
        RedisConfig::builder(url)
            .session_timeout(session)
            .heartbeat_interval(session / 5)
            .block_time(Duration::from_millis(50))
            .build()
            .expect("config"),
    )
    .await
    .expect("connect")
}
