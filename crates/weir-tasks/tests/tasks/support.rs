//! What the job scenarios share: actors, a running worker, dead letters.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use weir_core::{Broker, Payload, Producer, Topic};
use weir_tasks::{
    Context, Job, JobMessage, RetryPolicy, Router, ShutdownHandle, TaskBroker, TaskError, Tasks,
    Worker, WorkerBuilder, WorkerStats,
};
use weir_testkit::{collect, subscribed, unique_name};

/// How long a scenario waits for a job at most.
pub const WAIT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
    pub items: Vec<String>,
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub order: u64,
    pub count: usize,
}

/// A result whose encoding always fails.
pub struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "this value refuses to be encoded",
        ))
    }
}

/// What the actors saw, in order: (actor, task id, attempt, time).
pub type Log = Arc<Mutex<Vec<(String, String, u32, tokio::time::Instant)>>>;

fn note(log: &Log, ctx: &Context) {
    log.lock().expect("log").push((
        ctx.actor().to_owned(),
        ctx.id().to_string(),
        ctx.attempt(),
        tokio::time::Instant::now(),
    ));
}

/// The actors every scenario uses, logging each run to `log`.
pub fn router(log: &Log) -> Router {
    let mut r = Router::new();
    let l = log.clone();
    r.actor("add", move |(a, b): (i64, i64), ctx: Context| {
        note(&l, &ctx);
        async move { Ok::<_, String>(a + b) }
    })
    .doc("Adds two numbers");
    let l = log.clone();
    r.actor("receipt", move |order: Order, ctx: Context| {
        note(&l, &ctx);
        async move {
            Ok::<_, String>(Receipt {
                order: order.id,
                count: order.items.len(),
            })
        }
    });
    let l = log.clone();
    // Fails until attempt `n`, then returns the attempt.
    r.actor("flaky", move |n: u32, ctx: Context| {
        note(&l, &ctx);
        async move {
            if ctx.attempt() < n {
                Err(format!("attempt {} failed", ctx.attempt()))
            } else {
                Ok(ctx.attempt())
            }
        }
    })
    .retry_policy(
        RetryPolicy::exponential()
            .min_backoff(Duration::from_secs(10))
            .multiplier(5),
    );
    let l = log.clone();
    r.actor("fail", move |(): (), ctx: Context| {
        note(&l, &ctx);
        async move { Err::<(), _>(format!("boom {}", ctx.attempt())) }
    })
    .retry_policy(RetryPolicy::fixed(Duration::from_millis(50)));
    let l = log.clone();
    r.actor("sleep", move |ms: u64, ctx: Context| {
        note(&l, &ctx);
        async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, String>(ms)
        }
    });
    let l = log.clone();
    r.actor("unencodable", move |(): (), ctx: Context| {
        note(&l, &ctx);
        async move { Ok::<_, String>(Unencodable) }
    });
    let l = log.clone();
    r.actor("parent", move |(a, b): (i64, i64), ctx: Context| {
        note(&l, &ctx);
        async move {
            let child = ctx.enqueue(Job::new("add").args((a, b))).await?;
            Ok::<_, TaskError>(child)
        }
    });
    let l = log.clone();
    r.blocking_actor("checksum", move |data: Vec<u8>, ctx: Context| {
        note(&l, &ctx);
        Ok::<_, String>(data.iter().map(|b| u64::from(*b)).sum::<u64>())
    });
    r
}

/// A fresh log.
pub fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

/// The runs the log holds of `actor`.
pub fn runs(log: &Log, actor: &str) -> Vec<(String, u32, tokio::time::Instant)> {
    log.lock()
        .expect("log")
        .iter()
        .filter(|(a, ..)| a == actor)
        .map(|(_, id, attempt, at)| (id.clone(), *attempt, *at))
        .collect()
}

/// A worker running in the background.
pub struct Running {
    pub shutdown: ShutdownHandle,
    pub join: JoinHandle<Result<WorkerStats, TaskError>>,
}

impl Running {
    /// Stops it and returns its stats.
    pub async fn stop(self) -> WorkerStats {
        self.shutdown.shutdown();
        self.finished().await
    }

    /// Waits for it to stop on its own.
    pub async fn finished(self) -> WorkerStats {
        tokio::time::timeout(WAIT * 2, self.join)
            .await
            .expect("the worker stops in time")
            .expect("the worker task does not panic")
            .expect("the worker stops cleanly")
    }
}

tokio::task_local! {
    /// Set (by a suite) for workers on a thread of their own
    /// (`WorkerBuilder::dedicated_thread`).
    pub static OWN_THREAD: bool;
}

/// Starts a worker with `router`, set up further by `setup`, listening to
/// no signal, once the queue `default` is declared (as the worker would);
/// on a thread of its own when the suite runs in [`OWN_THREAD`].
pub async fn start<B: TaskBroker>(
    tasks: &Tasks<B>,
    router: Router,
    setup: impl FnOnce(WorkerBuilder<B>) -> WorkerBuilder<B>,
) -> Running {
    tasks.queue("default").declare().await.expect("declare");
    let worker = setup(
        Worker::builder(tasks)
            .router(router)
            .handle_signals([])
            .delay_poll_interval(Duration::from_millis(50))
            .dedicated_thread(OWN_THREAD.try_with(|own| *own).unwrap_or(false)),
    )
    .build();
    let shutdown = worker.shutdown_handle();
    Running {
        shutdown,
        join: tokio::spawn(worker.run()),
    }
}

/// Reads `n` dead letters of `queue`.
pub async fn dead_letters<B: Broker>(
    broker: &B,
    queue: &str,
    n: usize,
) -> Vec<(JobMessage, Payload)> {
    let topic = Topic::new(format!("{queue}.dead"));
    let mut c = subscribed(broker, &unique_name("dead"), &[topic]).await;
    let seen = collect(&mut c, false, |s| s.messages.len() >= n).await;
    seen.messages
        .into_iter()
        .map(|m| {
            let job = JobMessage::decode(&m.payload).expect("a dead letter is a job message");
            (job, m.payload)
        })
        .collect()
}

/// Produces again the `n` jobs waiting on `topics` (a queue's), each to its
/// own partition: every job is then queued twice, its copy behind it.
pub async fn copy_queued_jobs<B: Broker>(broker: &B, topics: &[Topic], n: usize) {
    let mut c = subscribed(broker, &unique_name("copy"), topics).await;
    let seen = collect(&mut c, false, |s| s.messages.len() >= n).await;
    let producer = broker.producer().await.expect("a producer");
    for m in seen.messages {
        let to = weir_core::Destination::Partition(m.partition.clone());
        producer
            .produce(to, m.payload)
            .await
            .expect("produce the copy");
    }
}
