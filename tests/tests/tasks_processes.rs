//! Crash tests of weir-tasks with processes: a worker process
//! (`src/bin/tasks_worker.rs`, on Redis, on a Redis Cluster and on Kafka)
//! is killed with SIGKILL while its jobs run, and a second worker finishes
//! them. Every run of every job is counted (the actor writes the task id
//! and the attempt to its process's file when a run starts): none lost,
//! none run more than retries + 1 + crashes times.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use weir_kafka::{KafkaBroker, KafkaConfig};
use weir_redis::{RedisBroker, RedisConfig};
use weir_tasks::{Job, TaskBroker, TaskState, Tasks};
use weir_testkit::servers::redis::RedisServer;
use weir_testkit::servers::redis_cluster::RedisCluster;
use weir_testkit::servers::{scratch_dir, tansu};
use weir_testkit::unique_name;

mod support;

use support::{ChildProcess, wait_for};

/// The lease on Redis: how long a killed worker's jobs wait for another
/// worker.
const SESSION_MS: u64 = 1000;
/// The lease on Kafka: the group's session timeout.
const KAFKA_SESSION_MS: u64 = 6000;

fn spawn_worker(broker: &str, queue: &str, out: PathBuf, session_ms: u64) -> ChildProcess {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tasks_worker"));
    command
        .args([broker, queue])
        .arg(&out)
        .arg(session_ms.to_string())
        .arg("8");
    ChildProcess::spawn("worker process", command, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_while_jobs_run_loses_none_the_next_worker_finishes_them() {
    let server = RedisServer::start();
    killed_redis_worker_loses_none(&server.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_on_a_redis_cluster_killed_while_jobs_run_loses_none_the_next_finishes_them() {
    let cluster = RedisCluster::start();
    killed_redis_worker_loses_none(&cluster.url()).await;
}

/// [`killed_worker_loses_none`] on the Redis at `url` (one node or a cluster).
async fn killed_redis_worker_loses_none(url: &str) {
    let config = RedisConfig::builder(url)
        .reconnect_timeout(Duration::from_secs(1))
        .build()
        .expect("config");
    let broker = RedisBroker::connect(config).await.expect("connect");
    killed_worker_loses_none(broker, url, SESSION_MS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_worker_killed_while_jobs_run_loses_none_the_next_worker_finishes_them() {
    let bootstrap = tansu::bootstrap();
    let config = KafkaConfig::builder(&bootstrap)
        .fast_group_joins()
        .build()
        .expect("config");
    killed_worker_loses_none(KafkaBroker::new(config), &bootstrap, KAFKA_SESSION_MS).await;
}

/// Jobs enqueued on `broker`; a worker process (on `address`, with a lease
/// of `session_ms`) killed while they run; a second one finishes them.
async fn killed_worker_loses_none<B: TaskBroker>(broker: B, address: &str, session_ms: u64) {
    const JOBS: u64 = 400;
    const RETRIES: u32 = 1;
    const CRASHES: usize = 1;
    let tasks = Tasks::builder(broker).partitions(4).build();
    let queue = unique_name("crash");
    tasks
        .queue(queue.as_str())
        .declare()
        .await
        .expect("declare");
    // Every fourth job fails its first attempt and succeeds on its retry.
    let jobs = (0..JOBS).map(|i| {
        let succeed_at: u32 = if i % 4 == 0 { 2 } else { 1 };
        Job::new("count")
            .queue(queue.as_str())
            .retries(RETRIES)
            .args((20u64, succeed_at))
    });
    let handles: Vec<_> = tasks
        .enqueue_many(jobs)
        .await
        .expect("enqueue")
        .into_iter()
        .map(|h| h.expect("enqueued"))
        .collect();

    let dir = scratch_dir("tasks-procs");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let mut first = spawn_worker(address, &queue, dir.join("first"), session_ms);
    wait_for("the first worker is working", || first.lines().len() >= 100).await;
    first.assert_running();
    first.kill();
    let killed_after = first.lines().len();
    assert!(
        (killed_after as u64) < JOBS,
        "killed mid-queue ({killed_after} runs)"
    );
    let killed_at = tokio::time::Instant::now();
    let mut second = spawn_worker(address, &queue, dir.join("second"), session_ms);

    // Every job ends, in success.
    let deadline = killed_at + Duration::from_secs(30);
    let mut states: BTreeMap<String, TaskState> = BTreeMap::new();
    // First every job has run (cheap to watch), then every record is final.
    wait_for("every job has run", || {
        first.lines().len() + second.lines().len() >= JOBS as usize
    })
    .await;
    loop {
        for h in &handles {
            if let Some(r) = h.record().await.expect("record") {
                states.insert(h.id().to_string(), r.state);
            }
        }
        if states.values().filter(|s| s.is_final()).count() == handles.len() {
            break;
        }
        second.assert_running();
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every job ended: {:?}",
            states.values().filter(|s| !s.is_final()).count()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let finished_in = killed_at.elapsed();
    second.assert_running();
    assert!(
        states.values().all(|s| *s == TaskState::Success),
        "every job succeeds"
    );

    // Runs per job: at least its attempts, at most retries + 1 + crashes.
    // Each run as "<worker>:<attempt>", for the message of a failure.
    let mut runs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (worker, lines) in [("first", first.lines()), ("second", second.lines())] {
        for line in lines {
            let (id, attempt) = line.split_once(' ').unwrap_or((&line, "?"));
            runs.entry(id.to_owned())
                .or_default()
                .push(format!("{worker}:{attempt}"));
        }
    }
    let bound = RETRIES as usize + 1 + CRASHES;
    let mut again = 0;
    for (i, h) in handles.iter().enumerate() {
        let ran = runs.get(h.id().as_str()).cloned().unwrap_or_default();
        let n = ran.len();
        let attempts = if i % 4 == 0 { 2 } else { 1 };
        assert!(n >= attempts, "job {} ran {n} times: {ran:?}", h.id());
        assert!(
            n <= bound,
            "job {} ran {n} times (bound {bound}): {ran:?}",
            h.id()
        );
        again += n - attempts;
    }
    eprintln!(
        "killed after {killed_after} runs; the second worker finished {} runs in {finished_in:?}; {again} runs again",
        second.lines().len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
