//! Producing: payloads appended to partition streams, a run of messages per
//! stream entry, the runs of a batch pipelined.

use std::sync::Arc;

use weir_core::{BrokerError, Destination, Payload, Produced, Producer};

use crate::append::append;
use crate::broker::Shared;
use crate::gathering::Gathering;

/// Appends payloads to Redis partitions. Cheap to clone; clones share the connection.
///
/// Offsets are dense per partition, and a batch keeps its order per
/// partition. A batch's messages to one partition are stored as few stream
/// entries (runs of up to 256 KiB or 1024 messages), each numbered
/// atomically on the server, so the server does one append, one delivery
/// record and one acknowledgement per run rather than per message. After a
/// connection failure a call is retried (up to the reconnect timeout), so a
/// message may be stored twice (at-least-once), never lost once `produce`
/// returned `Ok`.
#[derive(Clone, Debug)]
pub struct RedisProducer {
    shared: Arc<Shared>,
    gathering: Arc<Gathering>,
}

impl RedisProducer {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        RedisProducer {
            shared,
            gathering: Arc::default(),
        }
    }
}

impl Producer for RedisProducer {
    /// Single calls made while an append is on its way wait for it to
    /// return and then go together, as one batch, in one round trip.
    async fn produce(
        &self,
        destination: Destination,
        payload: Payload,
    ) -> Result<Produced, BrokerError> {
        self.gathering
            .produce(&self.shared, destination, payload)
            .await
    }

    async fn produce_batch(
        &self,
        batch: Vec<(Destination, Payload)>,
    ) -> Vec<Result<Produced, BrokerError>> {
        append(&self.shared, batch).await
    }
}
