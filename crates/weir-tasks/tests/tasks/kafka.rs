//! Kafka: the broker the job scenarios run on, and what is Kafka's own.
//! It offers no dedup, so a unique job fails with the typed `Unsupported`
//! error instead of being enqueued without its guarantee, and no permits,
//! so a worker meeting an actor limited across workers stops with that
//! error instead of running it unlimited; a delayed job waits on the
//! queue's delay topic, in real time.
//!
//! The broker is tansu on a free loopback port (one per test process), or
//! the cluster named by `WEIR_KAFKA_BOOTSTRAP`; the scenarios' queue
//! (`default`) and group are the same in every test, so against a shared
//! cluster run the tests one process at a time.

use std::time::{Duration, Instant};

use weir_core::BrokerError;
use weir_kafka::{CapabilityConfig, KafkaBroker, KafkaConfig};
use weir_tasks::{Job, TaskError, TaskState, Tasks};

use crate::support::{WAIT, log, router, runs, start};
use weir_testkit::servers::tansu;
use weir_testkit::unique_name;

/// A broker with the Kafka tests' quick settings: quick group joins,
/// fetches that wait at most 100 ms for data (tansu holds a fetch for its
/// whole wait; the priority consumer and the results reader must not wait
/// out librdkafka's half second), a settled group before a member leaves
/// (tansu needs it), requests that give up after 5 s, and results and
/// events topics of the test's own.
pub async fn broker() -> (KafkaBroker, ()) {
    let capabilities = CapabilityConfig::builder()
        .results_topic(unique_name("results"))
        .events_topic(unique_name("events"))
        .build()
        .expect("valid capability settings");
    let config = KafkaConfig::builder(tansu::bootstrap())
        .fast_group_joins()
        .set_consumer("fetch.wait.max.ms", "100")
        .settle_before_leaving(Duration::from_millis(1200))
        // A committed-offsets look-up that tansu leaves unanswered after
        // its consumer left blocks a runtime's shutdown for this long.
        .request_timeout(Duration::from_secs(5))
        .capabilities(capabilities)
        .build()
        .expect("a valid kafka config");
    (KafkaBroker::new(config), ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unique_job_fails_with_the_typed_unsupported_error() {
    let (broker, ()) = broker().await;
    let tasks = Tasks::new(broker);
    tasks.queue("default").declare().await.expect("declare");
    let err = tasks
        .enqueue(Job::new("add").args((1i64, 2i64)).id("only-once"))
        .await
        .expect_err("Kafka cannot keep an id unique");
    assert!(
        matches!(
            &err,
            TaskError::Broker {
                source: BrokerError::Unsupported {
                    backend: "kafka",
                    capability: "dedup"
                },
                ..
            }
        ),
        "{err:?}"
    );
    // A job without an id of its own is enqueued as usual.
    tasks
        .enqueue(Job::new("add").args((1i64, 2i64)))
        .await
        .expect("enqueue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_job_waits_on_the_delay_topic_then_runs() {
    let (broker, ()) = broker().await;
    let tasks = Tasks::new(broker);
    let log = log();
    let worker = start(&tasks, router(&log), |w| w).await;
    let delay = Duration::from_millis(1500);
    let enqueued = Instant::now();
    let handle = tasks
        .enqueue(Job::new("add").args((1i64, 1i64)).delay(delay))
        .await
        .expect("enqueue");
    assert_eq!(handle.state().await.expect("state"), TaskState::Queued);
    assert_eq!(handle.wait_timeout::<i64>(WAIT).await.expect("sum"), 2);
    assert!(
        enqueued.elapsed() >= delay,
        "it ran {:?} after it was enqueued, before its delay",
        enqueued.elapsed()
    );
    assert_eq!(runs(&log, "add").len(), 1, "moved once, run once");
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_limited_across_workers_fails_with_the_typed_unsupported_error() {
    let (broker, ()) = broker().await;
    let tasks = Tasks::new(broker);
    let mut router = weir_tasks::Router::new();
    router
        .actor("scarce", |(): (), _: weir_tasks::Context| async {
            Ok::<_, String>(())
        })
        .global_concurrency(1);
    let worker = start(&tasks, router, |w| w).await;
    tasks.enqueue(Job::new("scarce")).await.expect("enqueue");
    let stopped = tokio::time::timeout(WAIT, worker.join)
        .await
        .expect("the worker stops")
        .expect("the worker task does not panic");
    let err = stopped.expect_err("Kafka cannot hold a limit across workers");
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    let mut refused = false;
    while let Some(e) = cause {
        refused |= matches!(
            e.downcast_ref::<BrokerError>(),
            Some(BrokerError::Unsupported {
                backend: "kafka",
                capability: "permits"
            })
        );
        cause = e.source();
    }
    assert!(refused, "{}", weir_core::ErrorReport::new(&err));
}
