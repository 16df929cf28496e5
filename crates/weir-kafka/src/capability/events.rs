//! The event channel on Kafka: one events topic, each event keyed by its
//! channel's name (so a channel's events share a partition and keep their
//! order), fanned out in memory to the subscriptions of a broker handle.
//!
//! Publishing is producing: it needs no reader. The first subscription of a
//! handle starts one reader (shared by all its subscriptions) at the
//! topic's end; each subscription notes the end when it subscribes and
//! skips anything before it, so it gets exactly the events published once
//! `subscribe` returned, and no history. A subscriber that falls more than
//! [`CAPACITY`] events behind is told how many it missed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::{broadcast, oneshot};
use weir_core::capability::{ChannelEvent, EventChannel, EventSubscription};
use weir_core::{Broker, BrokerError, Destination, Partition, Payload, Producer, Topic};

use super::config::millis_setting;
use super::ends::ends;
use super::reader::{Record, TopicReader, spawn_reading};
use crate::KafkaBroker;

/// How many events a slow subscriber may fall behind before it misses some.
pub(crate) const CAPACITY: usize = 1024;

/// One event read, with where it was read.
#[derive(Clone, Debug)]
struct Event {
    partition: u32,
    offset: u64,
    payload: Bytes,
}

/// The subscriptions' channels, by name.
#[derive(Debug, Default)]
struct Fanout(Mutex<HashMap<String, broadcast::Sender<Event>>>);

impl Fanout {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, broadcast::Sender<Event>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn deliver(&self, records: Vec<Record>) {
        let channels = self.lock();
        for record in records {
            let Some(sender) = record
                .payload
                .key
                .as_deref()
                .and_then(|k| std::str::from_utf8(k).ok())
                .and_then(|name| channels.get(name))
            else {
                continue;
            };
            // Nobody subscribed any more is fine.
            let _ = sender.send(Event {
                partition: record.partition,
                offset: record.offset,
                payload: record.payload.value,
            });
        }
    }

    fn subscribe(&self, channel: &str) -> broadcast::Receiver<Event> {
        let mut channels = self.lock();
        channels.retain(|_, s| s.receiver_count() > 0);
        channels
            .entry(channel.to_owned())
            .or_insert_with(|| broadcast::channel(CAPACITY).0)
            .subscribe()
    }
}

/// The events topic's reader and its fan-out.
#[derive(Debug)]
pub(crate) struct Events {
    topic: Topic,
    partitions: u32,
    reader: Arc<TopicReader>,
    fanout: Arc<Fanout>,
    /// Dropping it stops the reading.
    _reading: oneshot::Sender<()>,
}

impl Events {
    async fn start(broker: &KafkaBroker) -> Result<Self, BrokerError> {
        let topic = broker.events_topic().await?;
        let partitions = broker.producer().await?.partition_count(&topic).await?;
        let reader = Arc::new(TopicReader::new(broker.config(), &topic, partitions)?);
        let start = ends_now(broker, &topic, &reader, partitions).await?;
        reader.assign(&start)?;
        let fanout = Arc::new(Fanout::default());
        let delivering = Arc::clone(&fanout);
        let reading = spawn_reading(Arc::clone(&reader), move |records| {
            delivering.deliver(records);
        });
        Ok(Events {
            topic,
            partitions,
            reader,
            fanout,
            _reading: reading,
        })
    }
}

/// Where each partition of the events topic ends now (see `ends`).
async fn ends_now(
    broker: &KafkaBroker,
    topic: &Topic,
    reader: &TopicReader,
    partitions: u32,
) -> Result<Vec<u64>, BrokerError> {
    let parts: Vec<Partition> = (0..partitions).map(|i| topic.partition(i)).collect();
    ends(broker, &parts, |p| reader.seen_end(p)).await
}

impl KafkaBroker {
    /// The events topic, created on first use.
    async fn events_topic(&self) -> Result<Topic, BrokerError> {
        let settings = self.config().capabilities();
        let topic = Topic::new(settings.events_topic());
        let retention = millis_setting(settings.events_retention());
        self.capabilities()
            .topics
            .ensure(
                self,
                &topic,
                settings.events_partitions(),
                &[("cleanup.policy", "delete"), ("retention.ms", &retention)],
            )
            .await?;
        Ok(topic)
    }
}

/// A subscription to one channel of the events topic.
#[derive(Debug)]
pub struct KafkaSubscription {
    channel: String,
    events: broadcast::Receiver<Event>,
    /// Per partition, the first offset this subscription delivers.
    start: Vec<u64>,
}

impl EventChannel for KafkaBroker {
    type Subscription = KafkaSubscription;

    /// Produces the event and waits for its acknowledgement. Returns 0: a
    /// Kafka producer cannot tell who reads a topic (subscriptions are not
    /// consumer groups, and other processes' are out of sight).
    async fn publish(&self, channel: &str, payload: Bytes) -> Result<u64, BrokerError> {
        let topic = self.events_topic().await?;
        let producer = self.producer().await?;
        let event = Payload::new(payload).with_key(channel.to_owned());
        self.capabilities()
            .note(producer.produce(Destination::Topic(topic), event).await)?;
        Ok(0)
    }

    /// Produces them all before waiting for any acknowledgement.
    async fn publish_many(&self, channel: &str, payloads: &[Bytes]) -> Result<(), BrokerError> {
        if payloads.is_empty() {
            return Ok(());
        }
        let topic = self.events_topic().await?;
        let producer = self.producer().await?;
        let batch = payloads
            .iter()
            .map(|p| {
                let event = Payload::new(p.clone()).with_key(channel.to_owned());
                (Destination::Topic(topic.clone()), event)
            })
            .collect();
        self.capabilities()
            .note_all(producer.produce_batch(batch).await)
    }

    async fn subscribe(&self, channel: &str) -> Result<KafkaSubscription, BrokerError> {
        let events = self
            .capabilities()
            .events
            .get_or_try_init(|| Events::start(self))
            .await?;
        // Listening first, then noting the end: what is published after
        // the end is read after the listening began.
        let receiver = events.fanout.subscribe(channel);
        let start = ends_now(self, &events.topic, &events.reader, events.partitions).await?;
        Ok(KafkaSubscription {
            channel: channel.to_owned(),
            events: receiver,
            start,
        })
    }
}

impl EventSubscription for KafkaSubscription {
    async fn next_event(&mut self) -> Result<ChannelEvent, BrokerError> {
        loop {
            match self.events.recv().await {
                Ok(e) if e.offset < self.start.get(e.partition as usize).copied().unwrap_or(0) => {}
                Ok(e) => return Ok(ChannelEvent::Message(e.payload)),
                Err(broadcast::error::RecvError::Lagged(n)) => return Ok(ChannelEvent::Missed(n)),
                Err(broadcast::error::RecvError::Closed) => {
                    tracing::debug!(channel = %self.channel, "kafka: the event reader stopped");
                    return Err(BrokerError::Closed("event channel"));
                }
            }
        }
    }
}
