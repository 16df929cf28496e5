//! Process-level fault tests on Redis (one server, and a cluster for the
//! kill): a StreamProcessor pipeline runs as a process of its own
//! (`src/bin/pipeline_process.rs`), which writes the number of every message
//! it processes to a file. Each test counts every message produced and
//! processed: none lost, duplicates bounded by the uncommitted window (a
//! commit every 100 ms).

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weir::core::{Admin, Broker, Topic};
use weir_redis::{RedisBroker, RedisConfig};
use weir_testkit::servers::redis::RedisServer;
use weir_testkit::servers::redis_cluster::RedisCluster;
use weir_testkit::servers::scratch_dir;
use weir_testkit::{produce_through_outages, unique_name};

use support::{PipelineProcess, finishes_after_kill, tally, wait_for};

const SESSION: Duration = Duration::from_millis(1500);

fn spawn(url: &str, topic: &Topic, group: &str, out: std::path::PathBuf) -> PipelineProcess {
    PipelineProcess::spawn("redis", url, topic, group, out, SESSION)
}

async fn setup(url: &str, partitions: u32) -> (RedisBroker, Topic) {
    let config = RedisConfig::builder(url)
        .reconnect_timeout(Duration::from_secs(1))
        .build()
        .expect("config");
    let broker = RedisBroker::connect(config).await.expect("connect");
    let topic = Topic::new(unique_name("procs"));
    broker
        .admin()
        .await
        .expect("admin")
        .create_topic(&topic, partitions)
        .await
        .expect("create topic");
    (broker, topic)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_process_killed_mid_batch_loses_nothing_the_survivor_finishes() {
    let server = RedisServer::start();
    killed_mid_batch(&server.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_redis_cluster_a_pipeline_process_killed_mid_batch_loses_nothing() {
    let cluster = RedisCluster::start();
    killed_mid_batch(&cluster.url()).await;
}

/// Two pipeline processes of one group on `url` share a backlog; the first
/// is SIGKILLed mid-batch and the survivor finishes.
async fn killed_mid_batch(url: &str) {
    const MESSAGES: u64 = 6000;
    let (broker, topic) = setup(url, 4).await;
    let producer = broker.producer().await.expect("producer");
    let produced =
        produce_through_outages(&producer, &topic, 0..MESSAGES, 500, Duration::ZERO).await;
    let dir = scratch_dir("procs");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let group = unique_name("g");
    let mut first = spawn(url, &topic, &group, dir.join("first"));
    wait_for("the first process is working", || {
        first.processed().len() >= 300
    })
    .await;
    let mut second = spawn(url, &topic, &group, dir.join("second"));
    wait_for("both processes are working", || {
        second.processed().len() >= 100
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_process_and_a_producer_ride_through_a_server_restart() {
    const MESSAGES: u64 = 3000;
    let server = Arc::new(Mutex::new(RedisServer::builder().append_only(true).start()));
    let url = server.lock().expect("server").url();
    let (broker, topic) = setup(&url, 2).await;
    let dir = scratch_dir("procs");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let mut pipeline = spawn(&url, &topic, &unique_name("g"), dir.join("out"));
    let producer = broker.producer().await.expect("producer");
    let sending = tokio::spawn({
        let topic = topic.clone();
        async move {
            produce_through_outages(&producer, &topic, 0..MESSAGES, 20, Duration::from_millis(5))
                .await
        }
    });
    wait_for("the pipeline is working", || {
        pipeline.processed().len() >= 300
    })
    .await;
    let s = Arc::clone(&server);
    tokio::task::spawn_blocking(move || s.lock().expect("server").kill())
        .await
        .expect("kill");
    // Longer than the clients' reconnect timeout (1 s) and the session
    // (1.5 s): calls fail, and the leases run out.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let s = Arc::clone(&server);
    tokio::task::spawn_blocking(move || s.lock().expect("server").restart())
        .await
        .expect("restart");
    let produced: BTreeSet<u64> = sending.await.expect("the producer rode through");
    assert_eq!(produced.len() as u64, MESSAGES);
    wait_for("everything is processed", || {
        pipeline.assert_running();
        tally(&[&pipeline]).has_all(&produced)
    })
    .await;
    pipeline.assert_running();
    let verdict = tally(&[&pipeline]).verdict(&produced);
    eprintln!("server restart: {verdict:?}");
    assert_eq!(verdict.lost, Vec::<u64>::new());
    assert!(
        verdict.duplicates <= 1000,
        "{} duplicates",
        verdict.duplicates
    );
    let _ = std::fs::remove_dir_all(&dir);
}
