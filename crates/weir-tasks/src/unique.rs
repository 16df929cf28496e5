//! Unique job ids (the `Dedup` seam): an id is taken from enqueue until the
//! job ends.

use std::time::Duration;

use weir_core::capability::Dedup;

use crate::{TaskError, TaskId};

fn scope(queue: &str) -> String {
    format!("weir-tasks:unique:{queue}")
}

/// Takes `id` on `queue` for `ttl`; `false` if a job not finished holds it.
pub(crate) async fn take<B: Dedup>(
    broker: &B,
    queue: &str,
    id: &TaskId,
    ttl: Duration,
) -> Result<bool, TaskError> {
    broker
        .first_seen(&scope(queue), id.as_str(), ttl)
        .await
        .map_err(TaskError::broker(format!(
            "reserving unique task id `{id}` on queue `{queue}`"
        )))
}

/// Frees `id` on `queue` (the job ended, or its enqueue failed, or it was
/// revoked). A backend without dedup (Kafka) never took an id: nothing to
/// free.
pub(crate) async fn free<B: Dedup>(broker: &B, queue: &str, id: &TaskId) -> Result<(), TaskError> {
    match broker.forget(&scope(queue), id.as_str()).await {
        Ok(_) | Err(weir_core::BrokerError::Unsupported { .. }) => Ok(()),
        Err(e) => Err(TaskError::broker(format!(
            "freeing unique task id `{id}` on queue `{queue}`"
        ))(e)),
    }
}
