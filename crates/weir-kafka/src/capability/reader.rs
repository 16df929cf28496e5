//! Reading every partition of one topic without a consumer group: the
//! results view and the event fan-out each keep one such reader per broker
//! handle.
//!
//! The reader is assigned its partitions at given offsets (never
//! subscribes, never commits), takes what librdkafka already fetched
//! without blocking, and otherwise waits for librdkafka's wake-up that the
//! queue turned non-empty: no thread of its own, no polling loop. Its
//! librdkafka client is destroyed on a blocking thread when it is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer as _, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::Notify;
use weir_core::{BrokerError, ConsumerConfig, OffsetReset, Partition, Payload, Topic};

use crate::KafkaConfig;
use crate::convert::{kafka_offset, payload_of};
use crate::error::{self, Context};
use crate::inbox::cached_watermarks;

/// How long a waiting reader sleeps without a wake-up before it looks at
/// the queue again (a safety net; wake-ups normally come first).
const IDLE_RECHECK: Duration = Duration::from_millis(500);

/// The group id readers are created with: librdkafka wants one to assign
/// partitions, but a reader never joins it and never commits.
const READER_GROUP: &str = "weir-capability-reader";

/// One message read.
#[derive(Debug)]
pub(crate) struct Record {
    /// Its partition's index.
    pub(crate) partition: u32,
    /// Its offset.
    pub(crate) offset: u64,
    /// What it carries (a missing value is an empty one: see `tombstone`).
    pub(crate) payload: Payload,
    /// Whether it had no value at all (a compacted topic's deletion marker).
    pub(crate) tombstone: bool,
}

/// The reader's librdkafka context: logs to `tracing`, counts served events.
#[derive(Debug, Default)]
pub(crate) struct ReaderContext {
    served: AtomicU64,
}

impl ClientContext for ReaderContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.served.fetch_add(1, Ordering::AcqRel);
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => tracing::error!(facility, "librdkafka: {message}"),
            RDKafkaLogLevel::Warning => tracing::warn!(facility, "librdkafka: {message}"),
            _ => tracing::debug!(facility, "librdkafka: {message}"),
        }
    }

    fn stats_raw(&self, _statistics: &[u8]) {
        self.served.fetch_add(1, Ordering::AcqRel);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.served.fetch_add(1, Ordering::AcqRel);
        tracing::warn!(%error, "librdkafka: {reason}");
    }
}

impl ConsumerContext for ReaderContext {}

/// Reads all partitions of one topic from given offsets.
pub(crate) struct TopicReader {
    client: Option<Arc<BaseConsumer<ReaderContext>>>,
    wake: Arc<Notify>,
    topic: Topic,
    partitions: u32,
    config: KafkaConfig,
}

impl std::fmt::Debug for TopicReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicReader")
            .field("topic", &self.topic)
            .field("partitions", &self.partitions)
            .finish_non_exhaustive()
    }
}

impl TopicReader {
    /// A reader of the `partitions` partitions of `topic`, reading nothing
    /// until [`assign`](Self::assign)ed.
    pub(crate) fn new(
        config: &KafkaConfig,
        topic: &Topic,
        partitions: u32,
    ) -> Result<Self, BrokerError> {
        let group = ConsumerConfig::builder(READER_GROUP)
            .offset_reset(OffsetReset::Earliest)
            .build()?;
        let mut base: BaseConsumer<ReaderContext> = config
            .consumer_settings(&group)
            .create_with_context(ReaderContext::default())
            .map_err(|e| error::from_kafka(e, Context::cluster(config.bootstrap())))?;
        let wake = Arc::new(Notify::new());
        let notify = Arc::clone(&wake);
        base.set_nonempty_callback(move || notify.notify_one());
        Ok(TopicReader {
            client: Some(Arc::new(base)),
            wake,
            topic: topic.clone(),
            partitions,
            config: config.clone(),
        })
    }

    /// Starts reading each partition at its offset in `starts` (by
    /// partition index; a partition without one starts at its end).
    pub(crate) fn assign(&self, starts: &[u64]) -> Result<(), BrokerError> {
        let cx = Context::cluster(self.config.bootstrap());
        let mut tpl = TopicPartitionList::with_capacity(self.partitions as usize);
        for index in 0..self.partitions {
            let at = starts
                .get(index as usize)
                .map_or(Offset::End, |o| kafka_offset(*o));
            let index = i32::try_from(index).unwrap_or(i32::MAX);
            tpl.add_partition_offset(self.topic.as_str(), index, at)
                .map_err(|e| error::from_kafka(e, cx.topic(&self.topic)))?;
        }
        self.client()?
            .assign(&tpl)
            .map_err(|e| error::from_kafka(e, cx.topic(&self.topic)))
    }

    /// The topic read.
    pub(crate) fn topic(&self) -> &Topic {
        &self.topic
    }

    fn client(&self) -> Result<&Arc<BaseConsumer<ReaderContext>>, BrokerError> {
        self.client.as_ref().ok_or(BrokerError::Closed("reader"))
    }

    /// Up to `max` records, waiting until at least one is there. Cancel-safe:
    /// records are taken only once the wait is over.
    pub(crate) async fn next_batch(&self, max: usize) -> Result<Vec<Record>, BrokerError> {
        loop {
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let batch = self.take(max)?;
            if !batch.is_empty() {
                return Ok(batch);
            }
            let _ = tokio::time::timeout(IDLE_RECHECK, woken).await;
        }
    }

    /// Up to `max` records librdkafka already fetched, without waiting.
    fn take(&self, max: usize) -> Result<Vec<Record>, BrokerError> {
        let client = self.client()?;
        let mut out = Vec::new();
        while out.len() < max {
            let served = client.context().served.load(Ordering::Acquire);
            match client.poll(Duration::ZERO) {
                Some(Ok(msg)) => {
                    let (Ok(partition), Ok(offset)) =
                        (u32::try_from(msg.partition()), u64::try_from(msg.offset()))
                    else {
                        continue;
                    };
                    out.push(Record {
                        partition,
                        offset,
                        tombstone: msg.payload().is_none(),
                        payload: payload_of(&msg),
                    });
                }
                Some(Err(e)) => {
                    if matches!(e, KafkaError::MessageConsumptionFatal(_)) {
                        return Err(error::from_kafka(
                            e,
                            Context::cluster(self.config.bootstrap()).topic(&self.topic),
                        ));
                    }
                    tracing::debug!(error = %e, topic = %self.topic, "kafka: reader error");
                }
                // An event (a log line, an error) was served: more may follow.
                None if client.context().served.load(Ordering::Acquire) != served => {}
                None => break,
            }
        }
        Ok(out)
    }

    /// The end of `partition` librdkafka last saw in a fetch response (no request).
    pub(crate) fn seen_end(&self, partition: &Partition) -> Option<u64> {
        let client = self.client.as_ref()?;
        let index = i32::try_from(partition.index).ok()?;
        cached_watermarks(client, partition.topic.as_str(), index)
            .and_then(|(_, high)| u64::try_from(high).ok())
    }
}

impl Drop for TopicReader {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        // librdkafka's destroy waits for its threads, and on some brokers
        // for a coordinator that never answers (tens of seconds): on a
        // thread of its own, which neither the runtime nor its shutdown
        // waits for. The reader commits nothing, so a destroy cut short by
        // the process's exit loses nothing.
        let spawned = std::thread::Builder::new()
            .name("weir-kafka-reader-close".to_owned())
            .spawn(move || drop(client));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start a thread to close a capability reader");
        }
    }
}

/// How many records one turn of [`spawn_reading`] takes at most.
const BATCH: usize = 1024;

/// How long reading pauses after a failed read before it tries again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Reads `reader` on a task of its own, handing each batch to `apply`,
/// until the returned sender is dropped (then the reader is dropped too).
pub(crate) fn spawn_reading(
    reader: Arc<TopicReader>,
    mut apply: impl FnMut(Vec<Record>) + Send + 'static,
) -> tokio::sync::oneshot::Sender<()> {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        loop {
            let batch = tokio::select! {
                _ = &mut stopped => return,
                batch = reader.next_batch(BATCH) => batch,
            };
            match batch {
                Ok(records) => apply(records),
                Err(e) => {
                    tracing::warn!(topic = %reader.topic(), error = %weir_core::ErrorReport::new(&e), "kafka: reading failed; trying again");
                    tokio::select! {
                        _ = &mut stopped => return,
                        () = tokio::time::sleep(RETRY_AFTER) => {}
                    }
                }
            }
        }
    });
    stop
}
