//! The messages limit: a consumer that hands out at most so many jobs.

use std::collections::{BTreeMap, BTreeSet};

use weir_core::{BrokerError, CommitRequest, Consumer, ConsumerEvent, Partition, Topic};

/// Wraps a consumer so that it hands out at most `left` messages; what a
/// batch holds beyond is put back (the partitions are rewound to it), so
/// the jobs stay for the next worker. Past the limit every assigned
/// partition stays paused. (The worker stops once it has taken them all:
/// the processor may hold some read but not yet submitted.)
pub(crate) struct Limited<C> {
    inner: C,
    left: Option<u64>,
}

impl<C: Consumer> Limited<C> {
    pub(crate) fn new(inner: C, limit: Option<u64>) -> Self {
        Limited { inner, left: limit }
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

impl<C: Consumer> Consumer for Limited<C> {
    async fn subscribe(&mut self, topics: &[Topic]) -> Result<(), BrokerError> {
        self.inner.subscribe(topics).await
    }

    async fn poll(&mut self) -> Result<ConsumerEvent, BrokerError> {
        loop {
            let event = self.inner.poll().await?;
            let Some(left) = self.left else {
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
