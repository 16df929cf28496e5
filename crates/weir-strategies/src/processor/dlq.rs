//! Dead letters: where invalid messages go, with their original bytes.

use std::future::Future;
use std::ops::Range;
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
/// On a record without the original bytes that stands for a run of
/// messages (part of an aggregate whose originals left the dead-letter
/// buffer): the offset just past the run, which starts at [`HEADER_OFFSET`].
pub const HEADER_OFFSET_END: &str = "weir-dlq-offset-end";
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
/// Each original message of an invalid one is produced there with its key,
/// bytes and headers, plus the headers [`HEADER_TOPIC`],
/// [`HEADER_PARTITION`], [`HEADER_OFFSET`] and [`HEADER_REASON`]. An
/// invalid aggregate (a [`Reduce`](crate::Reduce) or
/// [`Batch`](crate::Batch) output) sends one record per message it was
/// made from.
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

/// One record for the dead-letter topic.
#[derive(Debug)]
pub(crate) struct DeadLetter {
    /// Where the original was read from, if known.
    pub(crate) partition: Option<Partition>,
    /// Its offset (a run of one), or a run of originals whose bytes are gone.
    pub(crate) offsets: Option<Range<u64>>,
    /// The original key, bytes and headers, if still at hand.
    pub(crate) original: Option<Payload>,
}

impl DeadLetter {
    /// An original message, with its bytes.
    pub(crate) fn original(message: &BrokerValue<Payload>) -> Self {
        DeadLetter {
            partition: Some(message.partition.clone()),
            offsets: Some(message.offset..message.offset + 1),
            original: Some(message.payload.clone()),
        }
    }

    /// A run of originals whose bytes are no longer at hand.
    pub(crate) fn lost(partition: Partition, offsets: Range<u64>) -> Self {
        DeadLetter {
            partition: Some(partition),
            offsets: Some(offsets),
            original: None,
        }
    }

    /// An invalid message whose originals are unknown: what it names.
    pub(crate) fn unknown(invalid: &InvalidMessage) -> Self {
        DeadLetter {
            partition: invalid.partition.clone(),
            offsets: invalid.offset.map(|o| o..o + 1),
            original: None,
        }
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

    /// Produces one dead letter, declared invalid for `reason`.
    pub(crate) async fn send(
        &self,
        letter: DeadLetter,
        reason: &str,
    ) -> Result<Produced, BrokerError> {
        let mut payload = letter.original.unwrap_or_default();
        if let Some(p) = &letter.partition {
            payload
                .headers
                .insert(HEADER_TOPIC, p.topic.as_str().to_owned());
            payload
                .headers
                .insert(HEADER_PARTITION, p.index.to_string());
        }
        if let Some(r) = letter.offsets {
            payload.headers.insert(HEADER_OFFSET, r.start.to_string());
            if r.end > r.start + 1 {
                payload.headers.insert(HEADER_OFFSET_END, r.end.to_string());
            }
        }
        payload.headers.insert(HEADER_REASON, reason.to_owned());
        self.sink
            .produce(Destination::Topic(self.topic.clone()), payload)
            .await
    }
}
