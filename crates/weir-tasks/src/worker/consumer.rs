//! The worker's consumer: it hands out at most the messages limit, and
//! commits only once the outcomes of the jobs it commits are stored.

use std::collections::{BTreeMap, BTreeSet};

use weir_core::{BrokerError, CommitRequest, Consumer, ConsumerEvent, Partition, Topic};

use super::lookups::Lookups;
use crate::TaskError;
use crate::writes::Writes;

/// Wraps the worker's consumer.
///
/// - It hands out at most `left` messages; what a batch holds beyond is
///   put back (the partitions are rewound to it), so the jobs stay for the
///   next worker. Past the limit every assigned partition stays paused.
///   (The worker stops once it has taken them all: the processor may hold
///   some read but not yet submitted.)
/// - A commit first waits until every record handed to the worker's
///   writes before it is stored. A job that succeeds hands its outcome in
///   and frees its slot without waiting for the write; its offset is
///   committed only after this wait, so a crash in between runs it again
///   rather than losing its outcome.
/// - As it hands a batch out, it asks for the records of the batch's jobs
///   ahead of time (see `lookups.rs`).
pub(crate) struct JobConsumer<C> {
    inner: C,
    left: Option<u64>,
    writes: Writes,
    lookups: Option<Lookups>,
}

impl<C: Consumer> JobConsumer<C> {
    pub(crate) fn new(inner: C, limit: Option<u64>, writes: Writes) -> Self {
        JobConsumer {
            inner,
            left: limit,
            writes,
            lookups: None,
        }
    }

    /// Reads the records of the jobs it hands out ahead through `lookups`.
    pub(crate) fn read_ahead(mut self, lookups: Lookups) -> Self {
        self.lookups = Some(lookups);
        self
    }

    /// Asks for the latest records of `batch`'s jobs (keyed by task id).
    fn prefetch(&self, batch: &[weir_core::BrokerValue<weir_core::Payload>]) {
        let Some(lookups) = &self.lookups else {
            return;
        };
        let keys = batch
            .iter()
            .filter_map(|m| m.payload.key.as_ref())
            .filter_map(|k| std::str::from_utf8(k).ok())
            .map(crate::records::latest_key)
            .collect();
        lookups.prefetch(keys);
    }

    fn exhausted(&self) -> bool {
        self.left == Some(0)
    }

    fn pause_all(&mut self) -> Result<(), BrokerError> {
        let all: Vec<Partition> = self.inner.assignment().into_iter().collect();
        if all.is_empty() {
            Ok(())
        } else {
            self.inner.pause(&all)
        }
    }
}

impl<C: Consumer> Consumer for JobConsumer<C> {
    async fn subscribe(&mut self, topics: &[Topic]) -> Result<(), BrokerError> {
        self.inner.subscribe(topics).await
    }

    async fn poll(&mut self) -> Result<ConsumerEvent, BrokerError> {
        loop {
            let event = self.inner.poll().await?;
            let Some(left) = self.left else {
                if let ConsumerEvent::Messages(batch) = &event {
                    self.prefetch(batch);
                }
                return Ok(event);
            };
            match event {
                ConsumerEvent::Messages(mut batch) => {
                    let keep = usize::try_from(left).unwrap_or(usize::MAX).min(batch.len());
                    let rest = batch.split_off(keep);
                    self.left = Some(left - keep as u64);
                    let mut firsts: BTreeMap<Partition, u64> = BTreeMap::new();
                    for m in &rest {
                        firsts.entry(m.partition.clone()).or_insert(m.offset);
                    }
                    for (p, offset) in firsts {
                        self.inner.seek(&p, offset)?;
                    }
                    if self.exhausted() {
                        self.pause_all()?;
                    }
                    if !batch.is_empty() {
                        self.prefetch(&batch);
                        return Ok(ConsumerEvent::Messages(batch));
                    }
                    tokio::task::yield_now().await;
                }
                ConsumerEvent::Assigned(a) => {
                    let event = ConsumerEvent::Assigned(a);
                    if self.exhausted() {
                        self.pause_all()?;
                    }
                    return Ok(event);
                }
                other => return Ok(other),
            }
        }
    }

    fn pause(&mut self, partitions: &[Partition]) -> Result<(), BrokerError> {
        self.inner.pause(partitions)
    }

    fn resume(&mut self, partitions: &[Partition]) -> Result<(), BrokerError> {
        if self.exhausted() {
            return Ok(());
        }
        self.inner.resume(partitions)
    }

    fn paused(&self) -> BTreeSet<Partition> {
        self.inner.paused()
    }

    fn seek(&mut self, partition: &Partition, offset: u64) -> Result<(), BrokerError> {
        self.inner.seek(partition, offset)
    }

    fn assignment(&self) -> BTreeSet<Partition> {
        self.inner.assignment()
    }

    fn position(&self, partition: &Partition) -> Option<u64> {
        self.inner.position(partition)
    }

    async fn commit(&mut self, offsets: &CommitRequest) -> Result<(), BrokerError> {
        self.writes.flush().await.map_err(|e| match e {
            TaskError::Broker { source, .. } => source,
            other => BrokerError::backend("weir-tasks", other.to_string()),
        })?;
        self.inner.commit(offsets).await
    }

    async fn committed(
        &mut self,
        partitions: &[Partition],
    ) -> Result<BTreeMap<Partition, Option<u64>>, BrokerError> {
        self.inner.committed(partitions).await
    }

    fn lag(&self, partition: &Partition) -> Option<u64> {
        self.inner.lag(partition)
    }

    async fn close(&mut self) -> Result<(), BrokerError> {
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use weir_core::capability::ResultStore;
    use weir_core::{Broker, ConsumerConfig, ProducerExt};
    use weir_memory::MemoryBroker;

    use super::*;
    use crate::enqueue::{message_of, queued_record};
    use crate::patience::Patience;
    use crate::records::final_and_latest_keys;
    use crate::{Job, TaskState};

    /// A commit returns only once the records handed in before it are
    /// stored: without the wait, the writer (a task of its own, not yet
    /// run on this single thread) would not have stored it.
    #[tokio::test(flavor = "current_thread")]
    async fn a_commit_waits_for_the_records_handed_in_before_it() {
        let broker = MemoryBroker::new();
        broker.create_topic(&Topic::new("jobs"), 1).expect("topic");
        let producer = broker.producer().await.expect("producer");
        producer
            .produce_to("jobs", weir_core::Payload::new("job"))
            .await
            .expect("produce");
        let inner = broker
            .consumer(ConsumerConfig::new("workers"))
            .await
            .expect("consumer");
        let patience = Patience {
            timeout: Duration::from_secs(1),
        };
        let writes = Writes::start(broker.clone(), Duration::from_secs(60), patience);
        let mut consumer = JobConsumer::new(inner, None, writes.clone());
        consumer
            .subscribe(&[Topic::new("jobs")])
            .await
            .expect("subscribe");
        let offsets: CommitRequest = loop {
            if let ConsumerEvent::Messages(batch) = consumer.poll().await.expect("poll") {
                break batch.iter().collect();
            }
        };
        let job = Job::new("noop")
            .args(1)
            .encode(&weir_core::MsgPack)
            .expect("encodes");
        let mut record = queued_record(&message_of(job));
        record.state = TaskState::Success;
        writes
            .record(record.clone(), None)
            .expect("the writer runs");
        consumer.commit(&offsets).await.expect("commit");
        let [final_key, _] = final_and_latest_keys(&record.id, record.run);
        assert!(
            broker.get_result(&final_key).await.expect("read").is_some(),
            "the outcome is stored before the commit returns"
        );
    }
}
