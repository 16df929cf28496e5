//! Fetching: what librdkafka already fetched, taken without waiting and
//! routed to the partitions this consumer reads.
//!
//! The consumer queue carries group events (served first, stopping at a
//! group change so it is reported before any message); the inbox carries
//! the messages, taken many per call, one partition's batch after another
//! in turns (see the `inbox` module for why). Each run of messages from one topic
//! partition is routed once: to the partition if it is owned and not
//! paused, else nowhere. A paused partition's message (fetched before the
//! pause took effect) is set aside and the partition marked, so resuming
//! seeks back to it: nothing is lost, nothing skipped.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message as _};
use weir_core::{BrokerError, BrokerValue, Partition, Payload};

use super::KafkaConsumer;
use crate::arena::Arena;
use crate::convert::{payload_of, payload_of_raw, time_of_ms, timestamp_of};
use crate::error;
use crate::inbox::{self, Inbox};
use crate::rebalance::GroupContext;

/// How many messages one call takes from the inbox at most.
const TAKE_AT_MOST: usize = 1024;

/// The destination of a run of messages from one topic partition.
#[derive(Debug, Default)]
struct Route {
    /// The run's topic handle and partition index.
    key: Option<(usize, i32)>,
    /// The partition, if its messages are accepted.
    partition: Option<Partition>,
    /// The offset after the last accepted message.
    next: Option<u64>,
}

impl KafkaConsumer {
    /// Takes up to `max_poll_records` messages librdkafka already fetched:
    /// first serves the consumer queue's group events (stopping at a group
    /// change, which is reported before any message), then takes messages
    /// from the inbox, many per call.
    pub(super) fn fetch(&mut self) -> Result<Vec<BrokerValue<Payload>>, BrokerError> {
        let client = Arc::clone(self.client()?);
        let max = self.group.max_poll_records();
        let mut out = Vec::new();
        loop {
            let served = self.context.served();
            match client.poll(Duration::ZERO) {
                None if self.context.served() != served => {
                    if self.context.has_changes() {
                        return Ok(out);
                    }
                }
                None => break,
                // Messages arrive in the inbox; one reaching the consumer
                // queue is taken all the same.
                Some(Ok(msg)) => {
                    if let Some(value) = self.accept(&msg) {
                        out.push(value);
                    }
                }
                Some(Err(e)) => {
                    if let Some(fatal) = self.consume_error(e) {
                        return if out.is_empty() { Err(fatal) } else { Ok(out) };
                    }
                }
            }
        }
        let mut inbox = self.inbox.take().ok_or(BrokerError::Closed("consumer"))?;
        let taken = self.take_from(&mut inbox, max, &mut out);
        self.inbox = Some(inbox);
        taken.map(|()| out)
    }

    /// Moves messages from the inbox into `out`, a batch of one partition
    /// after another's, until it holds `max`, or the inbox is empty, or a
    /// fatal error (returned if `out` is still empty).
    /// A batch taken is always converted whole: librdkafka counts every
    /// message in it as consumed.
    fn take_from(
        &mut self,
        inbox: &mut Inbox<GroupContext>,
        max: usize,
        out: &mut Vec<BrokerValue<Payload>>,
    ) -> Result<(), BrokerError> {
        while out.len() < max {
            let want = (max - out.len()).min(TAKE_AT_MOST);
            let batch = inbox.take(want);
            let taken = batch.len();
            if taken == 0 {
                break;
            }
            out.reserve(taken);
            let mut arena = Arena::with_capacity(batch.iter().map(inbox::Message::size).sum());
            let mut route = Route::default();
            let mut fatal = None;
            for msg in batch.iter() {
                if let Some(code) = msg.error() {
                    let error = self.consume_error(KafkaError::MessageConsumption(code));
                    fatal = fatal.or(error);
                    continue;
                }
                let key = (msg.topic_id(), msg.partition());
                if route.key != Some(key) {
                    self.leave(std::mem::take(&mut route));
                    route = self.route(key, msg.topic());
                }
                let Some(partition) = &route.partition else {
                    continue;
                };
                let Ok(offset) = u64::try_from(msg.offset()) else {
                    continue;
                };
                route.next = Some(offset + 1);
                out.push(BrokerValue::new(
                    payload_of_raw(msg, &mut arena),
                    partition.clone(),
                    offset,
                    time_of_ms(msg.timestamp_ms()),
                ));
            }
            self.leave(route);
            if let Some(fatal) = fatal {
                return if out.is_empty() { Err(fatal) } else { Ok(()) };
            }
        }
        Ok(())
    }

    /// Where the messages of one topic partition go, looked up once per run
    /// of messages from it: nowhere if it is not owned, and nowhere (but
    /// marked for a seek back on resume) if it is paused.
    fn route(&mut self, key: (usize, i32), topic: Option<&str>) -> Route {
        let mut route = Route {
            key: Some(key),
            ..Route::default()
        };
        let Some(topic) = topic.and_then(|name| self.topics.iter().find(|t| t.as_str() == name))
        else {
            return route;
        };
        let Ok(index) = u32::try_from(key.1) else {
            return route;
        };
        let partition = topic.partition(index);
        match self.owned.get_mut(&partition) {
            Some(owned) if self.assignment.is_paused(&partition) => owned.reseek = true,
            Some(_) => route.partition = Some(partition),
            None => {}
        }
        route
    }

    /// Records how far a run of messages got.
    fn leave(&mut self, route: Route) {
        if let (Some(p), Some(next)) = (route.partition, route.next)
            && let Some(owned) = self.owned.get_mut(&p)
        {
            owned.position = Some(next);
        }
    }

    /// An error met while consuming: fatal ones are returned, others logged
    /// (librdkafka retries them itself).
    fn consume_error(&self, e: KafkaError) -> Option<BrokerError> {
        let code = e.rdkafka_error_code();
        let fatal = matches!(e, KafkaError::MessageConsumptionFatal(_))
            || code.is_some_and(error::is_unauthorized);
        if fatal {
            Some(error::from_kafka(e, self.cx()))
        } else {
            tracing::debug!(error = %e, "kafka: consumer error");
            None
        }
    }

    /// The message as a [`BrokerValue`], if this consumer owns its partition
    /// and has not paused it.
    fn accept(&mut self, msg: &BorrowedMessage<'_>) -> Option<BrokerValue<Payload>> {
        let topic = self.topics.iter().find(|t| t.as_str() == msg.topic())?;
        let index = u32::try_from(msg.partition()).ok()?;
        let offset = u64::try_from(msg.offset()).ok()?;
        let partition = topic.partition(index);
        let owned = self.owned.get_mut(&partition)?;
        if self.assignment.is_paused(&partition) {
            owned.reseek = true;
            return None;
        }
        owned.position = Some(offset + 1);
        Some(BrokerValue::new(
            payload_of(msg),
            partition,
            offset,
            timestamp_of(msg),
        ))
    }
}
