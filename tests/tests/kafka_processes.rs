//! Process-level fault tests on Kafka (tansu on a free loopback port, or the
//! cluster named by `WEIR_KAFKA_BOOTSTRAP`): a StreamProcessor pipeline
//! process (`src/bin/pipeline_process.rs`) is SIGKILLed mid-batch, and
//! another process of its group finishes: a survivor that shared the work,
//! or a successor started after the kill.
//! Every message produced and processed is counted: none lost, duplicates
//! bounded by the uncommitted window (a commit every 100 ms, plus what the
//! killed process had read ahead).

mod support;

use std::time::Duration;

use weir::core::{Admin, Broker, Topic};
use weir_kafka::{KafkaBroker, KafkaConfig};
use weir_testkit::servers::{scratch_dir, tansu};
use weir_testkit::{produce_spread_through_outages, produce_through_outages, unique_name};

use support::{PipelineProcess, finishes_after_kill, wait_for};

/// The shortest session tansu and librdkafka's defaults accept comfortably;
/// the survivor takes over the killed one's partitions once it runs out.
const SESSION: Duration = Duration::from_millis(6000);

/// The partitions of the test topic.
const PARTITIONS: u32 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_pipeline_process_killed_mid_batch_loses_nothing_the_survivor_finishes() {
    const FIRST: u64 = 400;
    const MESSAGES: u64 = 6000;
    let (bootstrap, broker, topic) = kafka_topic().await;
    // A first few on every partition, so both processes are in the group
    // and working before the backlog comes (a Kafka group takes seconds to
    // form; alone, one process would drain a backlog before the other
    // joined). Spread by hand: librdkafka's sticky partitioner would put
    // such a burst on one or two partitions, both maybe the first's.
    let producer = broker.producer().await.expect("producer");
    let mut produced = produce_spread_through_outages(
        &producer,
        &topic,
        PARTITIONS,
        0..FIRST,
        200,
        Duration::ZERO,
    )
    .await;
    let dir = scratch_dir("kafka-procs");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let group = unique_name("g");
    let spawn = |name: &str| {
        PipelineProcess::spawn("kafka", &bootstrap, &topic, &group, dir.join(name), SESSION)
    };
    let mut first = spawn("first");
    let mut second = spawn("second");
    wait_for("both processes are working", || {
        first.processed().len() >= 20 && second.processed().len() >= 20
    })
    .await;
    let working = first.processed().len();
    produced.extend(
        produce_through_outages(&producer, &topic, FIRST..MESSAGES, 500, Duration::ZERO).await,
    );
    assert_eq!(produced.len() as u64, MESSAGES);
    wait_for("the first process is busy with the backlog", || {
        first.processed().len() >= working + 300
    })
    .await;
    first.assert_running();
    let before = first.processed().len();
    first.kill();
    assert!(
        (before as u64) < MESSAGES,
        "killed mid-stream ({before} processed)"
    );
    finishes_after_kill(&first, &mut second, &produced, before).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A pipeline process is SIGKILLed mid-backlog and a new process of the
/// same group, started after, finishes the work once the dead member's
/// session runs out. None lost; duplicates bounded by the uncommitted
/// window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_pipeline_process_killed_mid_backlog_loses_nothing_its_successor_finishes() {
    const MESSAGES: u64 = 4000;
    let (bootstrap, broker, topic) = kafka_topic().await;
    let producer = broker.producer().await.expect("producer");
    let produced =
        produce_through_outages(&producer, &topic, 0..MESSAGES, 500, Duration::ZERO).await;
    let dir = scratch_dir("kafka-procs");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let group = unique_name("g");
    let spawn = |name: &str| {
        PipelineProcess::spawn("kafka", &bootstrap, &topic, &group, dir.join(name), SESSION)
    };
    let mut first = spawn("first");
    wait_for("the first process is busy with the backlog", || {
        first.processed().len() >= 300
    })
    .await;
    first.assert_running();
    let before = first.processed().len();
    first.kill();
    assert!(
        (before as u64) < MESSAGES,
        "killed mid-backlog ({before} processed)"
    );
    let mut second = spawn("second");
    finishes_after_kill(&first, &mut second, &produced, before).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The test broker's bootstrap servers, a client of it, and a new topic of
/// [`PARTITIONS`] partitions.
async fn kafka_topic() -> (String, KafkaBroker, Topic) {
    let bootstrap = tansu::bootstrap();
    let broker = KafkaBroker::new(
        KafkaConfig::builder(&bootstrap)
            .fast_group_joins()
            .build()
            .expect("config"),
    );
    let topic = Topic::new(unique_name("procs"));
    broker
        .admin()
        .await
        .expect("admin")
        .create_topic(&topic, PARTITIONS)
        .await
        .expect("create topic");
    (bootstrap, broker, topic)
}
