//! A tasks worker rides through a broker outage, on Redis and on Kafka:
//! a redis-server (AOF on), or every node of a local Redis Cluster, is
//! killed while jobs run and started again seconds later, longer than the
//! clients' reconnect timeout; a Kafka
//! broker (tansu on a free loopback port) is frozen with `SIGSTOP`, so every
//! request hangs and times out, and let go again seconds later. The
//! worker's consumer and its jobs' calls (records, events, retries) fail
//! with transient errors meanwhile, are tried again, and the worker keeps
//! running: every job succeeds.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use weir_integration_tests::{quick_redis_config, settling_kafka_config};
use weir_kafka::{CapabilityConfig, KafkaBroker};
use weir_redis::RedisBroker;
use weir_tasks::{
    Context, Job, RetryPolicy, Router, ShutdownHandle, TaskBroker, TaskError, TaskHandle,
    TaskState, Tasks, Worker, WorkerStats,
};
use weir_testkit::servers::redis::RedisServer;
use weir_testkit::servers::redis_cluster::RedisCluster;
use weir_testkit::servers::tansu;
use weir_testkit::unique_name;

const JOBS: u64 = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_rides_through_a_redis_restart_and_finishes_every_job() {
    let server = RedisServer::builder().append_only(true).start();
    let url = server.url();
    rides_through_a_restart(server, url, RedisServer::kill, RedisServer::restart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_rides_through_a_redis_cluster_restart_and_finishes_every_job() {
    let cluster = RedisCluster::builder().append_only(true).start();
    let url = cluster.url();
    rides_through_a_restart(cluster, url, RedisCluster::kill, RedisCluster::restart).await;
}

/// A worker on the Redis at `url` runs the jobs while `server` (one node
/// or a cluster, AOF on) is killed and, 3 s later (longer than the
/// reconnect timeout, 1 s, and the session, 1.5 s), restarted.
async fn rides_through_a_restart<S: Send + 'static>(
    server: S,
    url: String,
    kill: fn(&mut S),
    restart: fn(&mut S),
) {
    let server = Arc::new(Mutex::new(server));
    let config = quick_redis_config(url, Duration::from_millis(1500));
    let broker = RedisBroker::connect(config).await.expect("connect");
    let work = Work::start(Tasks::builder(broker).partitions(2).build()).await;
    work.until_done(50).await;

    let s = Arc::clone(&server);
    tokio::task::spawn_blocking(move || kill(&mut s.lock().expect("server")))
        .await
        .expect("kill");
    let at_outage = work.done();
    tokio::time::sleep(Duration::from_secs(3)).await;
    work.assert_running();
    let s = Arc::clone(&server);
    tokio::task::spawn_blocking(move || restart(&mut s.lock().expect("server")))
        .await
        .expect("restart");

    work.finish(at_outage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_on_kafka_rides_through_a_frozen_broker_and_finishes_every_job() {
    let server = tansu::start();
    let capabilities = CapabilityConfig::builder()
        .results_topic(unique_name("results"))
        .events_topic(unique_name("events"))
        .build()
        .expect("valid capability settings");
    let config = settling_kafka_config(server.bootstrap())
        .set_consumer("fetch.wait.max.ms", "100")
        .set_consumer("socket.timeout.ms", "2000")
        .set_producer("message.timeout.ms", "60000")
        .request_timeout(Duration::from_secs(2))
        .capabilities(capabilities)
        .build()
        .expect("a valid kafka config");
    let work = Work::start(
        Tasks::builder(KafkaBroker::new(config))
            .partitions(2)
            .build(),
    )
    .await;
    work.until_done(30).await;

    server.pause();
    let at_outage = work.done();
    // Longer than the requests' timeouts here, so calls fail and are tried again.
    tokio::time::sleep(Duration::from_secs(4)).await;
    work.assert_running();
    // The outage was real: unfrozen, the jobs would all have run by now
    // (200 jobs of 20 ms, 5 at a time, take under a second).
    assert!(work.done() < JOBS, "the jobs went on without the broker");
    server.resume();

    work.finish(at_outage).await;
}

/// `JOBS` jobs of 20 ms, every fifth failing once and retried (a retry
/// crosses the outage too), and the worker running them, 5 at a time.
struct Work<B: TaskBroker> {
    handles: Vec<TaskHandle<B>>,
    done: Arc<AtomicU64>,
    running: JoinHandle<Result<WorkerStats, TaskError>>,
    stop: ShutdownHandle,
}

impl<B: TaskBroker> Work<B> {
    async fn start(tasks: Tasks<B>) -> Self {
        let queue = unique_name("outage");
        tasks
            .queue(queue.as_str())
            .declare()
            .await
            .expect("declare");
        let jobs = (0..JOBS).map(|i| {
            Job::new("work")
                .queue(queue.as_str())
                .retries(1)
                .args((i, i % 5 == 0))
        });
        let handles = tasks
            .enqueue_many(jobs)
            .await
            .expect("enqueue")
            .into_iter()
            .map(|h| h.expect("enqueued"))
            .collect();
        let done = Arc::new(AtomicU64::new(0));
        let mut router = Router::new();
        let d = Arc::clone(&done);
        router
            .actor("work", move |(i, fail_once): (u64, bool), ctx: Context| {
                let d = Arc::clone(&d);
                async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    if fail_once && ctx.attempt() == 1 {
                        return Err(format!("job {i} fails once"));
                    }
                    d.fetch_add(1, Ordering::Relaxed);
                    Ok(i)
                }
            })
            .queue(queue.as_str())
            .retry_policy(RetryPolicy::fixed(Duration::from_millis(100)));
        let worker = Worker::builder(&tasks)
            .router(router)
            .concurrency(5)
            .handle_signals([])
            .delay_poll_interval(Duration::from_millis(100))
            .outage_timeout(Duration::from_secs(60))
            .build();
        let stop = worker.shutdown_handle();
        Work {
            handles,
            done,
            running: tokio::spawn(worker.run()),
            stop,
        }
    }

    /// How many jobs succeeded so far.
    fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    fn assert_running(&self) {
        assert!(
            !self.running.is_finished(),
            "the worker keeps running while the broker is out"
        );
    }

    /// Waits (real time: the broker is a real process) until `n` jobs succeeded.
    async fn until_done(&self, n: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.done() < n {
            assert!(tokio::time::Instant::now() < deadline, "the worker works");
            self.assert_running();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until every job's record says it succeeded, then stops the
    /// worker, which must stop cleanly having run what was left at the
    /// outage (`at_outage` jobs had succeeded). Within 60 s, checked at
    /// every record read, so a client stuck on its calls fails the test
    /// with the last error it gave rather than outlive the test's budget.
    async fn finish(mut self, at_outage: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let mut ended = 0;
            let mut last_error = None;
            for h in &self.handles {
                match h.record().await {
                    Ok(Some(r)) if r.state.is_final() => {
                        assert_eq!(r.state, TaskState::Success, "{r:?}");
                        ended += 1;
                    }
                    Ok(_) => {}
                    Err(e) => last_error = Some(e),
                }
                if tokio::time::Instant::now() >= deadline {
                    let worker = if self.running.is_finished() {
                        format!("stopped: {:?}", (&mut self.running).await)
                    } else {
                        "running".to_owned()
                    };
                    panic!(
                        "not every job ended within 60 s of the restart: {} succeeded, \
                         worker {worker}, last error reading a record: {last_error:?}",
                        self.done.load(Ordering::Relaxed),
                    );
                }
            }
            if ended == self.handles.len() {
                break;
            }
            assert!(
                !self.running.is_finished(),
                "the worker stopped: {:?}",
                self.running.await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.stop.shutdown();
        let stats = tokio::time::timeout(Duration::from_secs(30), self.running)
            .await
            .expect("the worker stops within 30 s of its shutdown")
            .expect("the worker task")
            .expect("the worker stops cleanly");
        eprintln!("{at_outage} jobs done when the outage began; {stats:?}");
        assert!(at_outage < JOBS, "the outage came mid-queue");
        assert!(stats.succeeded >= JOBS - at_outage, "{stats:?}");
    }
}
