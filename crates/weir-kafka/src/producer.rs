//! Producing to Kafka: delivery results as futures, bounded in flight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer as _};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use weir_core::{
    BrokerError, Destination, Partition, Payload, Produced, Producer, Topic, check_partition,
    check_payload_size,
};

use crate::KafkaConfig;
use crate::convert::index_of;
use crate::error::{self, Context};
use crate::metadata;

/// How long to wait before retrying when librdkafka's local queue is full.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(2);

/// Appends payloads to Kafka topics.
///
/// Cheap to clone (one librdkafka producer shared). `produce` resolves with
/// the partition and offset once the broker acknowledged the message;
/// [`Producer::produce_batch`] enqueues the whole batch before awaiting any
/// delivery, so it travels in as few requests as librdkafka can make. At most
/// [`KafkaConfig::max_in_flight`] messages await their delivery report at
/// once; further ones wait for room. Keys choose the partition (librdkafka's
/// consistent hash), so the same key lands on the same partition.
///
/// Producing to a topic that does not exist fails at once with
/// [`BrokerError::UnknownTopic`]: topic metadata is looked up (and cached)
/// before the first message to a topic.
#[derive(Clone)]
pub struct KafkaProducer {
    inner: Arc<Inner>,
}

struct Inner {
    producer: FutureProducer,
    in_flight: Arc<Semaphore>,
    partitions: Mutex<HashMap<Topic, u32>>,
    config: KafkaConfig,
}

impl std::fmt::Debug for KafkaProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaProducer")
            .field("bootstrap", &self.inner.config.bootstrap())
            .field("in_flight_limit", &self.inner.config.max_in_flight())
            .finish_non_exhaustive()
    }
}

/// A message accepted by librdkafka, awaiting its delivery report.
struct Pending {
    delivery: DeliveryFuture,
    topic: Topic,
    size: usize,
    _permit: OwnedSemaphorePermit,
}

impl KafkaProducer {
    pub(crate) fn new(config: KafkaConfig) -> Result<Self, BrokerError> {
        let producer: FutureProducer = config
            .producer_settings()
            .create()
            .map_err(|e| error::from_kafka(e, Context::cluster(config.bootstrap())))?;
        Ok(KafkaProducer {
            inner: Arc::new(Inner {
                producer,
                in_flight: Arc::new(Semaphore::new(config.max_in_flight())),
                partitions: Mutex::new(HashMap::new()),
                config,
            }),
        })
    }

    fn cached(&self, topic: &Topic) -> Option<u32> {
        self.inner
            .partitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(topic)
            .copied()
    }

    fn forget(&self, topic: &Topic) {
        self.inner
            .partitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(topic);
    }

    /// The partition count of `topic`, from the cache or the cluster.
    async fn partitions(&self, topic: &Topic, refresh: bool) -> Result<u32, BrokerError> {
        if let Some(n) = self.cached(topic).filter(|_| !refresh) {
            return Ok(n);
        }
        let producer = self.inner.producer.clone();
        let t = topic.clone();
        let timeout = self.inner.config.request_timeout();
        let bootstrap = self.inner.config.bootstrap().to_owned();
        let n = metadata::blocking(move || {
            metadata::partitions_now(producer.client(), &t, timeout, &bootstrap)
        })
        .await?;
        self.inner
            .partitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(topic.clone(), n);
        Ok(n)
    }

    /// How many partitions `topic` has (cached after the first look-up);
    /// [`BrokerError::UnknownTopic`] if it does not exist.
    pub(crate) async fn partition_count(&self, topic: &Topic) -> Result<u32, BrokerError> {
        self.partitions(topic, false).await
    }

    /// The (low, high) watermarks of `parts`, asked of the cluster. Through
    /// the producer's connections on purpose: a consumer's request waits
    /// behind its own fetch, which the broker may hold for up to
    /// `fetch.wait.max.ms` when there is nothing new to read.
    pub(crate) async fn watermarks(
        &self,
        parts: &[Partition],
    ) -> Result<Vec<(u64, u64)>, BrokerError> {
        let producer = self.inner.producer.clone();
        let parts = parts.to_vec();
        let timeout = self.inner.config.request_timeout();
        let bootstrap = self.inner.config.bootstrap().to_owned();
        metadata::blocking(move || {
            parts
                .iter()
                .map(|p| {
                    let (low, high) = producer
                        .client()
                        .fetch_watermarks(p.topic.as_str(), index_of(p), timeout)
                        .map_err(|e| {
                            error::from_kafka(e, Context::cluster(&bootstrap).topic(&p.topic))
                        })?;
                    Ok((
                        u64::try_from(low).unwrap_or(0),
                        u64::try_from(high).unwrap_or(0),
                    ))
                })
                .collect()
        })
        .await
    }

    /// Checks the destination exists and the payload fits.
    async fn check(&self, destination: &Destination, payload: &Payload) -> Result<(), BrokerError> {
        let topic = destination.topic();
        check_payload_size(topic, payload, self.inner.config.max_message_bytes())?;
        let count = self.partitions(topic, false).await?;
        if let Destination::Partition(p) = destination
            && check_partition(p, count).is_err()
        {
            // Partitions may have been added since the count was cached.
            let count = self.partitions(topic, true).await?;
            check_partition(p, count)?;
        }
        Ok(())
    }

    /// Hands one message to librdkafka (waiting for room when its queue is full).
    async fn enqueue(
        &self,
        destination: &Destination,
        payload: &Payload,
    ) -> Result<Pending, BrokerError> {
        self.check(destination, payload).await?;
        let permit = Arc::clone(&self.inner.in_flight)
            .acquire_owned()
            .await
            .map_err(|_| BrokerError::Closed("producer"))?;
        let topic = destination.topic();
        let mut headers = OwnedHeaders::new_with_capacity(payload.headers.len());
        for (name, value) in payload.headers.iter() {
            headers = headers.insert(Header {
                key: name,
                value: Some(&value[..]),
            });
        }
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(topic.as_str()).payload(&payload.value[..]);
        if let Some(key) = &payload.key {
            record = record.key(&key[..]);
        }
        if !payload.headers.is_empty() {
            record = record.headers(headers);
        }
        if let Destination::Partition(p) = destination {
            record = record.partition(index_of(p));
        }
        loop {
            match self.inner.producer.send_result(record) {
                Ok(delivery) => {
                    return Ok(Pending {
                        delivery,
                        topic: topic.clone(),
                        size: payload.byte_size(),
                        _permit: permit,
                    });
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    tokio::time::sleep(QUEUE_FULL_BACKOFF).await;
                }
                Err((e, _)) => return Err(self.error(e, topic, payload.byte_size())),
            }
        }
    }

    /// Waits for the broker's acknowledgement of one message.
    async fn delivered(&self, pending: Pending) -> Result<Produced, BrokerError> {
        let Pending {
            delivery,
            topic,
            size,
            _permit,
        } = pending;
        match delivery.await {
            Err(_canceled) => Err(BrokerError::Closed("producer")),
            Ok(Err((e, _message))) => Err(self.error(e, &topic, size)),
            Ok(Ok(d)) => Ok(Produced {
                partition: Partition::new(topic, u32::try_from(d.partition).unwrap_or(0)),
                offset: u64::try_from(d.offset).unwrap_or(0),
            }),
        }
    }

    fn error(&self, e: KafkaError, topic: &Topic, size: usize) -> BrokerError {
        let cx = Context::cluster(self.inner.config.bootstrap())
            .topic(topic)
            .payload(size, self.inner.config.max_message_bytes());
        let err = error::from_kafka(e, cx);
        if matches!(err, BrokerError::UnknownTopic { .. }) {
            self.forget(topic);
        }
        err
    }
}

impl Producer for KafkaProducer {
    async fn produce(
        &self,
        destination: Destination,
        payload: Payload,
    ) -> Result<Produced, BrokerError> {
        let pending = self.enqueue(&destination, &payload).await?;
        self.delivered(pending).await
    }

    async fn produce_batch(
        &self,
        batch: Vec<(Destination, Payload)>,
    ) -> Vec<Result<Produced, BrokerError>> {
        let mut pending = Vec::with_capacity(batch.len());
        for (destination, payload) in &batch {
            pending.push(self.enqueue(destination, payload).await);
        }
        let mut out = Vec::with_capacity(pending.len());
        for p in pending {
            out.push(match p {
                Ok(p) => self.delivered(p).await,
                Err(e) => Err(e),
            });
        }
        out
    }

    async fn flush(&self) -> Result<(), BrokerError> {
        let producer = self.inner.producer.clone();
        let timeout = self.inner.config.request_timeout();
        let bootstrap = self.inner.config.bootstrap().to_owned();
        metadata::blocking(move || {
            producer
                .flush(timeout)
                .map_err(|e| error::from_kafka(e, Context::cluster(&bootstrap)))
        })
        .await
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Flush on close: whatever was accepted gets its chance to be delivered.
        if self.producer.in_flight_count() > 0 {
            let _ = self.producer.flush(self.config.request_timeout());
        }
    }
}
