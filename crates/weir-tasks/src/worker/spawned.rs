//! A worker run as a task of the caller's multi-threaded runtime (when
//! told not to take a thread of its own; see
//! [`Worker::run`](super::Worker::run)).

use weir_core::Codec;

use super::{Worker, WorkerStats};
use crate::{TaskBroker, TaskError};

/// Spawns `worker` on the current runtime and waits for what it returns.
/// A panic of the worker is resumed here.
///
/// Spawned, the worker's own loop runs on the runtime's worker threads,
/// next to the jobs it hands out. Awaited in place from `main`, it would
/// run on the thread that called `block_on`, and every job it spawned
/// would go through the runtime's shared queue and wake a parked thread.
pub(super) async fn run<B, C>(worker: Worker<B, C>) -> Result<WorkerStats, TaskError>
where
    B: TaskBroker,
    C: Codec + Clone,
{
    let id = worker.id.clone();
    match tokio::spawn(worker.run_here()).await {
        Ok(outcome) => outcome,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Cancelled: the runtime is shutting down.
            Err(e) => Err(TaskError::Thread {
                worker: id,
                source: std::io::Error::other(e),
            }),
        },
    }
}
