//! A worker on a thread of its own, with a current-thread runtime (see
//! [`WorkerBuilder::dedicated_thread`](super::WorkerBuilder::dedicated_thread)).

use tokio::sync::oneshot;
use weir_core::Codec;

use super::{Worker, WorkerStats};
use crate::{TaskBroker, TaskError};

/// Runs `worker` on a new thread and waits for what it returns. A panic
/// of the worker is resumed here.
pub(super) async fn run<B, C>(worker: Worker<B, C>) -> Result<WorkerStats, TaskError>
where
    B: TaskBroker,
    C: Codec + Clone,
{
    let id = worker.id.clone();
    let (tx, rx) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name(format!("weir-{id}"))
        .spawn(move || {
            let outcome = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(worker.run_here()),
                Err(source) => Err(TaskError::Thread {
                    worker: worker.id.clone(),
                    source,
                }),
            };
            // The caller may have stopped waiting.
            let _ = tx.send(outcome);
        })
        .map_err(|source| TaskError::Thread {
            worker: id.clone(),
            source,
        })?;
    match rx.await {
        Ok(outcome) => outcome,
        // The thread ended without an answer: the worker panicked.
        Err(_) => match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            _ => Err(TaskError::Thread {
                worker: id,
                source: std::io::Error::other("the worker's thread ended without an outcome"),
            }),
        },
    }
}
