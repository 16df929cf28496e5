//! The job layer: scenarios generic over the broker (`scenarios.rs`) run
//! on memory with tokio's clock paused, on a redis-server of each test's
//! own (there also with every worker on a thread of its own), on a local
//! 3-master Redis Cluster of each test's own and on Kafka
//! (`kafka.rs`); the time-heavy ones run on memory only (`memory.rs`).

mod kafka;
mod memory;
mod property;
mod scenarios;
mod support;

use weir_memory::MemoryBroker;

macro_rules! job_suite {
    ($backend:ident, $start:path, $attr:meta) => {
        job_suite!($backend, $start, $attr, own_thread: false);
    };
    ($backend:ident, $start:path, $attr:meta, own_thread: $own:expr) => {
        job_suite!(@cases $backend, $start, $attr, $own,
            enqueued_job_runs_and_its_result_is_awaited,
            typed_args_and_results_round_trip,
            exhausted_retries_dead_letter_the_job_with_all_errors,
            bad_jobs_are_dead_lettered_and_the_worker_goes_on,
            events_are_published_and_filtered,
            a_handle_from_the_id_alone_follows_the_task,
            jobs_enqueued_in_bulk_all_run,
            an_actors_global_limit_holds_across_workers,
            a_local_queue_is_served_by_its_node_only,
            a_queue_counts_its_jobs,
            a_revoked_job_does_not_run,
            a_job_delivered_twice_in_a_row_runs_once,
        );
    };
    (@cases $backend:ident, $start:path, $attr:meta, $own:expr, $($name:ident),+ $(,)?) => {
        mod $backend {
            $(
                #[$attr]
                async fn $name() {
                    let (broker, _server) = $start().await;
                    let scenario = crate::scenarios::$name(weir_tasks::Tasks::new(broker));
                    crate::support::OWN_THREAD.scope($own, scenario).await;
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

job_suite!(on_memory, crate::memory, tokio::test(start_paused = true));
job_suite!(
    on_redis,
    crate::redis,
    tokio::test(flavor = "multi_thread", worker_threads = 2)
);
// The same on Redis with every worker on a thread of its own (not on
// memory: such a worker's runtime has a clock of its own, not the test's
// paused one).
job_suite!(
    on_redis_own_thread,
    crate::redis,
    tokio::test(flavor = "multi_thread", worker_threads = 2),
    own_thread: true
);
job_suite!(
    on_redis_cluster,
    crate::redis_cluster,
    tokio::test(flavor = "multi_thread", worker_threads = 2)
);
// Kafka has no `Permits`: an actor's limit across workers is `Unsupported`
// there (`kafka.rs`), so that scenario is left out.
job_suite!(@cases
    on_kafka,
    crate::kafka::broker,
    tokio::test(flavor = "multi_thread", worker_threads = 2),
    false,
    enqueued_job_runs_and_its_result_is_awaited,
    typed_args_and_results_round_trip,
    exhausted_retries_dead_letter_the_job_with_all_errors,
    bad_jobs_are_dead_lettered_and_the_worker_goes_on,
    events_are_published_and_filtered,
    a_handle_from_the_id_alone_follows_the_task,
    jobs_enqueued_in_bulk_all_run,
    a_local_queue_is_served_by_its_node_only,
    a_queue_counts_its_jobs,
    a_revoked_job_does_not_run,
    a_job_delivered_twice_in_a_row_runs_once,
);
