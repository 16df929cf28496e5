//! Dead letters: where invalid messages go, with their original bytes.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;

use weir_core::{
    BrokerError, BrokerValue, Destination, Partition, Payload, Produced, Producer, Topic,
};

use crate::InvalidMessage;

/// Header naming the topic an invalid message was read from.
pub const HEADER_TOPIC: &str = "weir-dlq-topic";
/// Header naming its partition index.
pub const HEADER_PARTITION: &str = "weir-dlq-partition";
/// Header naming its offset.
pub const HEADER_OFFSET: &str = "weir-dlq-offset";
/// Header with the reason it was declared invalid.
pub const HEADER_REASON: &str = "weir-dlq-reason";

type ProduceFuture<'a> = Pin<Box<dyn Future<Output = Result<Produced, BrokerError>> + Send + 'a>>;

trait Sink: Send + Sync {
    fn produce(&self, destination: Destination, payload: Payload) -> ProduceFuture<'_>;
}

struct ProducerSink<P>(P);

impl<P: Producer> Sink for ProducerSink<P> {
    fn produce(&self, destination: Destination, payload: Payload) -> ProduceFuture<'_> {
        Box::pin(self.0.produce(destination, payload))
    }
}

/// A dead-letter topic reached through any broker's producer.
///
/// Each invalid message is produced there with its original key, bytes and
/// headers, plus the headers [`HEADER_TOPIC`], [`HEADER_PARTITION`],
/// [`HEADER_OFFSET`] and [`HEADER_REASON`].
pub struct DeadLetterQueue {
    sink: Box<dyn Sink>,
    topic: Topic,
}

impl std::fmt::Debug for DeadLetterQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetterQueue")
            .field("topic", &self.topic)
            .finish()
    }
}

impl DeadLetterQueue {
    /// Dead letters go to `topic` through `producer`.
    pub fn new<P: Producer>(producer: P, topic: impl Into<Topic>) -> Self {
        DeadLetterQueue {
            sink: Box::new(ProducerSink(producer)),
            topic: topic.into(),
        }
    }

    /// The dead-letter topic.
    pub fn topic(&self) -> &Topic {
        &self.topic
    }

    /// Produces `invalid` (with its original payload when known).
    pub(crate) async fn send(
        &self,
        invalid: &InvalidMessage,
        original: Option<Payload>,
    ) -> Result<Produced, BrokerError> {
        let mut payload = original.unwrap_or_default();
        if let Some(p) = &invalid.partition {
            payload
                .headers
                .insert(HEADER_TOPIC, p.topic.as_str().to_owned());
            payload
                .headers
                .insert(HEADER_PARTITION, p.index.to_string());
        }
        if let Some(o) = invalid.offset {
            payload.headers.insert(HEADER_OFFSET, o.to_string());
        }
        payload
            .headers
            .insert(HEADER_REASON, invalid.reason.clone());
        self.sink
            .produce(Destination::Topic(self.topic.clone()), payload)
            .await
    }
}

/// The raw messages not committed yet, kept so an invalid one can be sent to
/// the dead-letter topic with its original bytes. Trimmed on every commit and
/// bounded per partition.
#[derive(Debug, Default)]
pub(crate) struct RawBuffer {
    partitions: HashMap<Partition, VecDeque<BrokerValue<Payload>>>,
    limit: usize,
}

impl RawBuffer {
    pub(crate) fn new(limit: usize) -> Self {
        RawBuffer {
            partitions: HashMap::new(),
            limit: limit.max(1),
        }
    }

    pub(crate) fn remember(&mut self, message: &BrokerValue<Payload>) {
        let q = match self.partitions.get_mut(&message.partition) {
            Some(q) => q,
            None => self
                .partitions
                .entry(message.partition.clone())
                .or_default(),
        };
        if q.back().is_some_and(|b| b.offset >= message.offset) {
            // Re-read after a seek: start over from here.
            q.clear();
        }
        if q.len() >= self.limit {
            q.pop_front();
        }
        q.push_back(message.clone());
    }

    pub(crate) fn find(&self, partition: &Partition, offset: u64) -> Option<&BrokerValue<Payload>> {
        let q = self.partitions.get(partition)?;
        let first = q.front()?.offset;
        let i = usize::try_from(offset.checked_sub(first)?).ok()?;
        q.get(i).filter(|m| m.offset == offset)
    }

    /// Drops what lies before `next` (it is committed).
    pub(crate) fn committed(&mut self, partition: &Partition, next: u64) {
        if let Some(q) = self.partitions.get_mut(partition) {
            while q.front().is_some_and(|m| m.offset < next) {
                q.pop_front();
            }
        }
    }

    /// Forgets every partition (after a rebalance the tail is read again).
    pub(crate) fn clear(&mut self) {
        self.partitions.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn raw(offset: u64) -> BrokerValue<Payload> {
        BrokerValue::new(
            Payload::new(format!("m{offset}")),
            Partition::new("t", 0),
            offset,
            SystemTime::UNIX_EPOCH,
        )
    }

    #[test]
    fn finds_by_offset_and_trims_on_commit() {
        let mut b = RawBuffer::new(3);
        for o in 10..14 {
            b.remember(&raw(o));
        }
        let p = Partition::new("t", 0);
        assert!(b.find(&p, 10).is_none(), "bounded: the oldest went");
        assert_eq!(&b.find(&p, 12).unwrap().payload.value[..], b"m12");
        b.committed(&p, 13);
        assert!(b.find(&p, 12).is_none());
        assert!(b.find(&p, 13).is_some());
    }
}
