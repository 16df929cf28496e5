//! Where a payload goes, decided before anything is sent: its size checked
//! against the limit, its partition named or chosen (see
//! [`Partitioner`](weir_core::Partitioner)) among its topic's partitions.
//! Producing and delayed delivery route alike.

use weir_core::{BrokerError, Destination, Partition, Payload, Topic, check_payload_size};

use crate::broker::Shared;

/// Decides where each payload of a batch goes. It keeps the partition count
/// of the topic it saw last, so a batch to one topic looks it up once.
pub(crate) struct Router<'a> {
    shared: &'a Shared,
    last: Option<(Topic, u32)>,
}

impl<'a> Router<'a> {
    pub(crate) fn new(shared: &'a Shared) -> Self {
        Router { shared, last: None }
    }

    /// The partition `payload` goes to, or why it cannot be sent.
    pub(crate) async fn route(
        &mut self,
        destination: &Destination,
        payload: &Payload,
    ) -> Result<Partition, BrokerError> {
        let shared = self.shared;
        let topic = destination.topic();
        check_payload_size(topic, payload, shared.config.max_payload_bytes)?;
        let count = match &self.last {
            Some((t, n)) if t == topic => *n,
            _ => {
                let n = shared.partition_count(topic).await?;
                self.last = Some((topic.clone(), n));
                n
            }
        };
        shared.partitioner.place(destination, payload, count)
    }
}
