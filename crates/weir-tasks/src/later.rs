//! Jobs for later (the `DelayedDelivery` seam): delayed jobs and retries
//! wait in the broker's delayed store, and workers move them to their
//! topics when due. Kafka, which has no delayed store, will put a retry
//! topic behind these two calls.

use std::time::SystemTime;

use weir_core::capability::DelayedDelivery;
use weir_core::{Payload, Topic};

use crate::TaskError;

/// Keeps `payload` for `topic` until `due`.
pub(crate) async fn produce_at<B: DelayedDelivery>(
    broker: &B,
    topic: &Topic,
    payload: Payload,
    due: SystemTime,
) -> Result<(), weir_core::BrokerError> {
    broker.produce_at(topic.into(), payload, due).await
}

/// Moves the due jobs of `topics` to them; when the next one falls due.
pub(crate) async fn deliver_due<B: DelayedDelivery>(
    broker: &B,
    topics: &[Topic],
) -> Result<Option<SystemTime>, TaskError> {
    let mut next: Option<SystemTime> = None;
    for topic in topics {
        broker
            .deliver_due(topic)
            .await
            .map_err(TaskError::broker(format!("moving due jobs to `{topic}`")))?;
        let due = broker
            .next_due(topic)
            .await
            .map_err(TaskError::broker(format!(
                "looking up due jobs of `{topic}`"
            )))?;
        next = match (next, due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(next)
}
