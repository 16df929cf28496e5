//! Topic metadata look-ups, run off the async runtime.

use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::client::Client;
use rdkafka::error::RDKafkaErrorCode;
use weir_core::{BrokerError, Topic};

use crate::error::{self, BACKEND, Context};

/// Runs a blocking librdkafka call on tokio's blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BrokerError> + Send + 'static,
) -> Result<T, BrokerError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BrokerError::backend(BACKEND, e))?
}

/// How many partitions `topic` has; [`BrokerError::UnknownTopic`] if it does not exist.
/// Blocking: call it through [`blocking`].
pub(crate) fn partitions_now<C: ClientContext>(
    client: &Client<C>,
    topic: &Topic,
    timeout: Duration,
    bootstrap: &str,
) -> Result<u32, BrokerError> {
    let cx = Context::cluster(bootstrap).topic(topic);
    let metadata = client
        .fetch_metadata(Some(topic.as_str()), timeout)
        .map_err(|e| error::from_kafka(e, cx))?;
    let unknown = || BrokerError::UnknownTopic {
        topic: topic.clone(),
    };
    let found = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic.as_str())
        .ok_or_else(unknown)?;
    if let Some(err) = found.error() {
        return Err(error::from_code(RDKafkaErrorCode::from(err), cx));
    }
    match found.partitions().len() {
        0 => Err(unknown()),
        n => Ok(u32::try_from(n).unwrap_or(u32::MAX)),
    }
}
