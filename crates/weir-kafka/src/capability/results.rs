//! The result store on Kafka: results are records of a compacted topic,
//! keyed by id, and each broker handle reads that topic into memory.
//!
//! The reader (one per [`KafkaBroker`], started by the first read or wait;
//! storing needs none) reads the topic from its beginning and then stays
//! live, keeping each id's latest value (see `results_view`). Reading a result first waits until the
//! reader has caught up with the topic's end as the cluster lists it (and
//! with this handle's own writes), so a result stored and acknowledged
//! before the call is seen, whichever process stored it. Waiting for a
//! result needs no catching up: the wait is registered at once and the
//! reader wakes it when the value arrives. The costs: every handle holds
//! the unexpired results in memory, and a read costs one list-offsets
//! request per partition of the results topic.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use weir_core::capability::ResultStore;
use weir_core::{Broker, BrokerError, Destination, Partition, Payload, Producer, Topic};

use super::KafkaCapabilityError;
use super::config::millis_setting;
use super::ends::ends;
use super::reader::{TopicReader, spawn_reading};
use super::results_view::{EXPIRES, Lookup, ResultsView, expiry_header};
use crate::KafkaBroker;

/// The results topic, its reader and what it read.
#[derive(Debug)]
pub(crate) struct Results {
    topic: Topic,
    partitions: u32,
    reader: Arc<TopicReader>,
    view: Arc<ResultsView>,
    /// Dropping it stops the reading.
    _reading: oneshot::Sender<()>,
}

impl Results {
    /// Creates the results topic if needed and starts reading it.
    pub(crate) async fn start(broker: &KafkaBroker) -> Result<Self, BrokerError> {
        let (topic, partitions) = broker.results_topic().await?;
        let reader = Arc::new(TopicReader::new(broker.config(), &topic, partitions)?);
        // From each partition's log start, named: librdkafka then needs no
        // look-up of "the beginning" before its first fetch.
        let parts: Vec<Partition> = (0..partitions).map(|i| topic.partition(i)).collect();
        let starts = broker.producer().await?.watermarks(&parts).await?;
        let lows: Vec<u64> = starts.into_iter().map(|(low, _)| low).collect();
        reader.assign(&lows)?;
        let view = Arc::new(ResultsView::new(partitions));
        let applying = Arc::clone(&view);
        let reading = spawn_reading(Arc::clone(&reader), move |records| {
            applying.apply(records);
        });
        Ok(Results {
            topic,
            partitions,
            reader,
            view,
            _reading: reading,
        })
    }

    /// Waits until the view holds everything stored before the call.
    async fn catch_up(&self, broker: &KafkaBroker) -> Result<(), BrokerError> {
        let parts: Vec<Partition> = (0..self.partitions)
            .map(|i| self.topic.partition(i))
            .collect();
        let ends = ends(broker, &parts, |p| self.reader.seen_end(p)).await?;
        let waited = broker.config().request_timeout();
        tokio::time::timeout(waited, self.view.reached(&ends))
            .await
            .map_err(|_| KafkaCapabilityError::Behind {
                topic: self.topic.clone(),
                waited,
            })?;
        Ok(())
    }
}

impl KafkaBroker {
    /// The results topic and its partition count, created on first use.
    async fn results_topic(&self) -> Result<(Topic, u32), BrokerError> {
        let settings = self.config().capabilities();
        let topic = Topic::new(settings.results_topic());
        let retention = settings.results_retention().map(millis_setting);
        let topic_settings: Vec<(&str, &str)> = match &retention {
            Some(ms) => vec![("cleanup.policy", "compact,delete"), ("retention.ms", ms)],
            None => vec![("cleanup.policy", "compact")],
        };
        let partitions = self
            .capabilities()
            .topics
            .ensure(self, &topic, settings.results_partitions(), &topic_settings)
            .await?;
        Ok((topic, partitions))
    }

    /// The results reader of this handle, started on first use.
    async fn results(&self) -> Result<&Results, BrokerError> {
        self.capabilities()
            .results
            .get_or_try_init(|| Results::start(self))
            .await
    }
}

impl ResultStore for KafkaBroker {
    /// Always [`BrokerError::Unsupported`]: results are records of a
    /// compacted topic, and Kafka cannot write one only if the key holds
    /// none.
    async fn put_result_if_absent(
        &self,
        _id: &str,
        _value: Bytes,
        _ttl: Duration,
    ) -> Result<bool, BrokerError> {
        Err(BrokerError::Unsupported {
            backend: "kafka",
            capability: "result if absent",
        })
    }

    /// Produces the result and waits for its acknowledgement.
    async fn put_result(&self, id: &str, value: Bytes, ttl: Duration) -> Result<(), BrokerError> {
        self.put_results(&[(id.to_owned(), value)], ttl).await
    }

    /// Produces them all before waiting for any acknowledgement, so they
    /// travel in as few requests as librdkafka can make; returns once all
    /// are acknowledged (or the first failure).
    async fn put_results(
        &self,
        entries: &[(String, Bytes)],
        ttl: Duration,
    ) -> Result<(), BrokerError> {
        if entries.is_empty() {
            return Ok(());
        }
        // Writing needs the topic, not the reader: a handle that only
        // stores results holds none of them.
        let (topic, _) = self.results_topic().await?;
        let producer = self.producer().await?;
        let expires = expiry_header(ttl);
        let batch = entries
            .iter()
            .map(|(id, value)| {
                let payload = Payload::new(value.clone())
                    .with_key(id.clone())
                    .with_header(EXPIRES, expires.clone());
                (Destination::Topic(topic.clone()), payload)
            })
            .collect();
        self.capabilities()
            .note_all(producer.produce_batch(batch).await)
    }

    async fn get_result(&self, id: &str) -> Result<Option<Bytes>, BrokerError> {
        let results = self.results().await?;
        results.catch_up(self).await?;
        Ok(results.view.get(id))
    }

    /// One catching up for all of them.
    async fn get_results(&self, ids: &[String]) -> Result<Vec<Option<Bytes>>, BrokerError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let results = self.results().await?;
        results.catch_up(self).await?;
        Ok(ids.iter().map(|id| results.view.get(id)).collect())
    }

    async fn wait_result(&self, id: &str, timeout: Duration) -> Result<Option<Bytes>, BrokerError> {
        let results = self.results().await?;
        let waiting = match results.view.get_or_wait(id) {
            Lookup::Found(value) => return Ok(Some(value)),
            Lookup::Wait(waiting) => waiting,
        };
        match tokio::time::timeout(timeout, waiting).await {
            Ok(Ok(value)) => Ok(Some(value)),
            Ok(Err(_)) => Err(KafkaCapabilityError::ReaderStopped {
                topic: results.topic.clone(),
            }
            .into()),
            Err(_) => {
                results.view.forget_waiters(id);
                Ok(results.view.get(id))
            }
        }
    }
}
