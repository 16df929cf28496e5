//! Jobs for later (the `DelayedDelivery` seam): delayed jobs and retries
//! wait in the broker's delayed store (a sorted set on Redis, a delay topic
//! beside each topic on Kafka), and workers move them to their topics when
//! due.

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

/// Moves the due jobs of `topics` to them, the topics at once; when the
/// next one falls due.
pub(crate) async fn deliver_due<B: DelayedDelivery>(
    broker: &B,
    topics: &[Topic],
) -> Result<Option<SystemTime>, TaskError> {
    let dues = futures::future::try_join_all(topics.iter().map(|topic| async move {
        broker
            .deliver_due(topic)
            .await
            .map_err(TaskError::broker(format!("moving due jobs to `{topic}`")))?;
        broker
            .next_due(topic)
            .await
            .map_err(TaskError::broker(format!(
                "looking up due jobs of `{topic}`"
            )))
    }))
    .await?;
    Ok(dues.into_iter().flatten().min())
}
