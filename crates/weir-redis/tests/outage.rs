//! A StreamProcessor on Redis rides through server outages without a
//! restart of its own: a redis-server (AOF on) killed mid-stream and started
//! again, shorter and longer than the session timeout, and a consumer made
//! while the server is still down. Every message produced and processed is
//! counted: none lost, duplicates only from the uncommitted window.

mod common;

use std::time::Duration;

use common::TestBroker;
use weir_core::{Broker, ConsumerConfig, Payload, Topic};
use weir_redis::{RedisBroker, RedisConsumer};
use weir_strategies::{
    CommitOffsets, CommitPolicy, ProcessorError, ProcessorReport, RunTask, StrategyContext,
    StreamProcessor,
};
use weir_testkit::servers::redis::RedisServer;
use weir_testkit::{Tally, Verdict, new_topic, produce_through_outages, unique_name, wait_until};

/// Messages produced in each scenario.
const MESSAGES: u64 = 2000;
/// How often the processor commits: bounds the uncommitted window.
const COMMIT_EVERY: Duration = Duration::from_millis(200);
/// The most messages processed again: those of one commit interval (at
/// the producer's pace, under 2 000 a second) plus what the consumer had
/// read ahead (2 partitions × 50), with room for a slow machine.
const DUPLICATES_BOUND: u64 = 1000;

/// A processor counting every message it processes into `tally`.
fn counting(
    consumer: RedisConsumer,
    topic: &Topic,
    tally: &Tally,
) -> StreamProcessor<RedisConsumer> {
    let tally = tally.clone();
    StreamProcessor::builder(consumer, [topic.clone()], move |_: &StrategyContext| {
        let t = tally.clone();
        RunTask::new(move |p: Payload| Ok(t.record(&p)), CommitOffsets::new())
    })
    .commit_policy(CommitPolicy::every(COMMIT_EVERY))
    .outage_timeout(Duration::from_secs(60))
    .build()
}

async fn consumer(broker: &RedisBroker, group: &str) -> RedisConsumer {
    let config = ConsumerConfig::builder(group)
        .max_poll_records(50)
        .build()
        .expect("config");
    broker.consumer(config).await.expect("a consumer")
}

/// Kills the server in the middle of a stream, keeps it down for `outage`,
/// starts it again; the producer and the processor go on. Returns the
/// count and the processor's report.
async fn ride_through(session: Duration, outage: Duration) -> (Verdict, ProcessorReport) {
    let broker = TestBroker::start_with(RedisServer::builder().append_only(true), |c| {
        c.session_timeout(session)
            .heartbeat_interval(session / 5)
            .reconnect_timeout(Duration::from_secs(1))
    })
    .await;
    let topic = new_topic(&broker, "outage", 2).await;
    let tally = Tally::default();
    let processor = counting(
        consumer(&broker.redis, &unique_name("g")).await,
        &topic,
        &tally,
    );
    let stop = processor.shutdown_handle();
    let running = tokio::spawn(processor.run());
    let producer = broker.producer().await.expect("producer");
    let sending = tokio::spawn({
        let topic = topic.clone();
        async move {
            produce_through_outages(
                &producer,
                &topic,
                0..MESSAGES,
                20,
                Duration::from_millis(10),
            )
            .await
        }
    });
    wait_until("a few hundred are processed", || tally.distinct() >= 300).await;
    let server = std::sync::Arc::clone(&broker.server);
    tokio::task::spawn_blocking(move || server.lock().expect("server").kill())
        .await
        .expect("kill");
    tokio::time::sleep(outage).await;
    let server = std::sync::Arc::clone(&broker.server);
    tokio::task::spawn_blocking(move || server.lock().expect("server").restart())
        .await
        .expect("restart");
    let produced = sending.await.expect("the producer rode through");
    assert_eq!(produced.len() as u64, MESSAGES);
    wait_until("every message is processed", || {
        tally.has_all(&produced) || running.is_finished()
    })
    .await;
    assert!(
        !running.is_finished(),
        "the processor stopped: {:?}",
        running.await
    );
    stop.shutdown();
    let report = running
        .await
        .expect("the processor task")
        .expect("a clean stop");
    let verdict = tally.verdict(&produced);
    eprintln!("outage of {outage:?} (session {session:?}): {verdict:?}, {report:?}");
    assert_eq!(verdict.lost, Vec::<u64>::new(), "lost messages");
    assert!(
        verdict.duplicates <= DUPLICATES_BOUND,
        "{} duplicates",
        verdict.duplicates
    );
    (verdict, report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processor_rides_through_a_server_restart() {
    // Down for longer than the client's own reconnect timeout (1 s), so
    // calls fail, but shorter than the session: the leases survive.
    ride_through(Duration::from_secs(6), Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_longer_than_the_session_moves_the_partitions_back_without_loss() {
    let (_, report) = ride_through(Duration::from_millis(1500), Duration::from_secs(3)).await;
    assert!(
        report.pipelines >= 2,
        "the leases ran out in the outage: a rebalance ({report:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_made_while_the_server_is_down_connects_when_it_is_back() {
    let broker = TestBroker::start_with(RedisServer::builder().append_only(true), |c| {
        c.reconnect_timeout(Duration::from_secs(1))
    })
    .await;
    let topic = new_topic(&broker, "down", 2).await;
    let url = broker.url();
    let server = std::sync::Arc::clone(&broker.server);
    tokio::task::spawn_blocking(move || server.lock().expect("server").kill())
        .await
        .expect("kill");
    let config = common::fast(&url)
        .reconnect_timeout(Duration::from_secs(1))
        .build()
        .expect("config");
    let down = RedisBroker::connect_lazy(config).expect("a lazy broker");
    let tally = Tally::default();
    let processor = counting(consumer(&down, &unique_name("g")).await, &topic, &tally);
    let stop = processor.shutdown_handle();
    let running = tokio::spawn(processor.run());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!running.is_finished(), "{:?}", running.await);
    let server = std::sync::Arc::clone(&broker.server);
    tokio::task::spawn_blocking(move || server.lock().expect("server").restart())
        .await
        .expect("restart");
    let producer = broker.producer().await.expect("producer");
    let produced =
        produce_through_outages(&producer, &topic, 0..200, 50, Duration::from_millis(1)).await;
    wait_until("every message is processed", || {
        tally.has_all(&produced) || running.is_finished()
    })
    .await;
    stop.shutdown();
    let outcome: Result<ProcessorReport, ProcessorError> = running.await.expect("the task");
    outcome.expect("a clean stop");
    let verdict = tally.verdict(&produced);
    assert_eq!(verdict.lost, Vec::<u64>::new());
    assert_eq!(verdict.duplicates, 0);
}
