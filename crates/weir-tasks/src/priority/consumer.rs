//! The consumer that serves the levels of prioritized queues by weight.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::Instant;
use weir_core::{
    BrokerError, BrokerValue, CommitRequest, Consumer, ConsumerEvent, Partition, Payload, Topic,
};

use super::{PriorityLevels, WeightedRoundRobin};

/// A consumer over the levels of prioritized queues that hands out messages
/// by level weight (a [`WeightedRoundRobin`] over the levels with buffered
/// work), keeping per-partition order. It wraps any backend's consumer, so
/// priorities behave alike on every broker.
///
/// It buffers up to `max_poll_records` messages per level ahead of the
/// caller; a level whose buffer is full is paused on the inner consumer until
/// it drains. When a level has nothing buffered while the broker still holds
/// messages of it (it ran dry, or none of it was fetched yet), the poll
/// fetches (and may wait) before serving the other levels alone, so a busy
/// high level is not starved by what lower ones had buffered, nor by which
/// partition a backend happened to fetch first. "Still holds" is the inner
/// consumer's [`Consumer::lag`] when it knows it; otherwise a guess: the
/// level's last fetch was a full batch, or it was not fetched from yet. That
/// wait ends when messages of the level arrive, or after the refill wait
/// (default 250 ms, [`PriorityConsumer::with_refill_wait`]) when none come,
/// and it happens once per dry spell of a level, so other levels are never
/// held up for longer. Subscribing to queue `q` subscribes to its level topics.
///
/// The refill wait should exceed the time the inner consumer takes to fetch
/// a partition it resumes. On Kafka, a paused partition's prefetched
/// messages are dropped and fetched again on resume, which can take up to
/// librdkafka's `fetch.wait.max.ms` (default 500 ms): lower that setting, or
/// raise the refill wait, to keep the weights exact there.
///
/// Usually made by [`PriorityQueues::prioritized_consumer`](super::PriorityQueues::prioritized_consumer);
/// wrap a consumer by hand to set the refill wait:
///
/// ```
/// use std::time::Duration;
/// use weir_core::{Broker, BrokerError, Consumer, ConsumerConfig, Topic};
/// use weir_tasks::priority::{PriorityConsumer, PriorityLevels};
///
/// async fn worker<B: Broker>(broker: &B) -> Result<(), BrokerError> {
///     let config = ConsumerConfig::new("workers");
///     let max = config.max_poll_records();
///     let inner = broker.consumer(config).await?;
///     let mut c = PriorityConsumer::new(inner, PriorityLevels::high_medium_low(), max)
///         .with_refill_wait(Duration::from_millis(50));
///     c.subscribe(&[Topic::new("jobs")]).await?;
///     Ok(())
/// }
/// ```
#[derive(Debug)]
pub struct PriorityConsumer<C> {
    inner: C,
    levels: PriorityLevels,
    max: usize,
    level_of: HashMap<Topic, usize>,
    buffers: Vec<VecDeque<BrokerValue<Payload>>>,
    /// Which level's buffer is served next.
    round_robin: WeightedRoundRobin,
    /// Partitions the caller paused.
    user_paused: BTreeSet<Partition>,
    /// Partitions this consumer paused because their level's buffer is full.
    full_paused: BTreeSet<Partition>,
    /// Per level: its last fetch was a full batch (or it was not fetched from
    /// yet), so the broker likely holds more.
    busy: Vec<bool>,
    /// Per level: whether it may still hold the others back in this dry
    /// spell; spent when it is looked at, renewed when its messages arrive.
    may_wait: Vec<bool>,
    /// A busy level that ran dry while serving: fetch before serving the others alone.
    refill: Option<usize>,
    /// When waiting for the refill level gives up.
    refill_deadline: Option<Instant>,
    refill_wait: Duration,
}

/// How long a poll waits for a dry, busy level before serving the others.
const REFILL_WAIT: Duration = Duration::from_millis(250);

impl<C: Consumer> PriorityConsumer<C> {
    /// Wraps `inner`; `max` is the most messages one poll returns.
    pub fn new(inner: C, levels: PriorityLevels, max: usize) -> Self {
        let n = levels.len();
        PriorityConsumer {
            inner,
            round_robin: WeightedRoundRobin::new(&levels),
            levels,
            max: max.max(1),
            level_of: HashMap::new(),
            buffers: vec![VecDeque::new(); n],
            user_paused: BTreeSet::new(),
            full_paused: BTreeSet::new(),
            busy: vec![true; n],
            may_wait: vec![true; n],
            refill: None,
            refill_deadline: None,
            refill_wait: REFILL_WAIT,
        }
    }

    /// How long a poll waits for messages of a level that ran dry while the
    /// broker still (likely) holds more of it, before serving the other
    /// levels without it (default 250 ms).
    pub fn with_refill_wait(mut self, wait: Duration) -> Self {
        self.refill_wait = wait;
        self
    }

    /// The wrapped consumer.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    fn level(&self, p: &Partition) -> usize {
        self.level_of.get(&p.topic).copied().unwrap_or(0)
    }

    fn take_in(&mut self, batch: Vec<BrokerValue<Payload>>) -> Result<(), BrokerError> {
        let mut per_level = vec![0usize; self.buffers.len()];
        for m in &batch {
            per_level[self.level(&m.partition)] += 1;
        }
        for (level, n) in per_level.into_iter().enumerate() {
            if n > 0 {
                self.busy[level] = n >= self.max;
                self.may_wait[level] = true;
            }
        }
        for m in batch {
            let level = self.level(&m.partition);
            self.buffers[level].push_back(m);
        }
        // A full level stops fetching until it drains.
        let mut pause = Vec::new();
        for (p, level) in self.assigned_levels() {
            if self.buffers[level].len() >= self.max && !self.full_paused.contains(&p) {
                pause.push(p);
            }
        }
        if !pause.is_empty() {
            self.inner.pause(&pause)?;
            self.full_paused.extend(pause);
        }
        Ok(())
    }

    fn assigned_levels(&self) -> Vec<(Partition, usize)> {
        self.inner
            .assignment()
            .into_iter()
            .map(|p| {
                let l = self.level(&p);
                (p, l)
            })
            .collect()
    }

    fn release_drained(&mut self) -> Result<(), BrokerError> {
        let resume: Vec<Partition> = self
            .full_paused
            .iter()
            .filter(|p| self.buffers[self.level(p)].len() < self.max / 2 + 1)
            .cloned()
            .collect();
        let resume_inner: Vec<Partition> = resume
            .iter()
            .filter(|p| !self.user_paused.contains(*p))
            .cloned()
            .collect();
        if !resume_inner.is_empty() {
            self.inner.resume(&resume_inner)?;
        }
        for p in resume {
            self.full_paused.remove(&p);
        }
        Ok(())
    }

    /// Whether the broker still holds messages of `level` for this consumer:
    /// the inner consumer's lag where it knows it, else the level's last
    /// fetch was a full batch.
    fn more_waiting(&self, level: usize) -> bool {
        let mut unknown = false;
        let mut readable = false;
        for (p, l) in self.assigned_levels() {
            if l != level || self.user_paused.contains(&p) {
                continue;
            }
            readable = true;
            match self.inner.lag(&p) {
                Some(0) => {}
                Some(_) => return true,
                None => unknown = true,
            }
        }
        readable && unknown && self.busy[level]
    }

    /// Whether reading now may bring anything. While a full level is paused,
    /// a read of only the levels the broker says are empty would bring
    /// nothing and could block (on Redis, for the consumer's block time),
    /// and the full level's next fetch, once it drains, would wait behind it.
    fn worth_a_read(&self) -> bool {
        if self.full_paused.is_empty() {
            return true;
        }
        self.assigned_levels().into_iter().any(|(p, _)| {
            !self.full_paused.contains(&p)
                && !self.user_paused.contains(&p)
                && self.inner.lag(&p) != Some(0)
        })
    }

    /// Whether to fetch `level`, which has nothing to serve, before serving
    /// the others alone: once per dry spell, if the broker likely holds more.
    fn wait_for(&mut self, level: usize) -> bool {
        std::mem::take(&mut self.may_wait[level]) && self.more_waiting(level)
    }

    fn eligible(&self, level: usize) -> Option<usize> {
        self.buffers[level]
            .iter()
            .position(|m| !self.user_paused.contains(&m.partition))
    }

    /// Up to `max` buffered messages, levels chosen by weight.
    fn emit(&mut self) -> Vec<BrokerValue<Payload>> {
        let mut out = Vec::new();
        while out.len() < self.max {
            let has_work: Vec<bool> = (0..self.buffers.len())
                .map(|l| self.eligible(l).is_some())
                .collect();
            // A level with nothing buffered that likely has more at the
            // broker (none of it fetched yet, say) would be held back by the
            // others: fetch it first.
            if out.is_empty()
                && has_work.contains(&true)
                && let Some(dry) = (0..has_work.len()).find(|&l| !has_work[l] && self.wait_for(l))
            {
                self.refill = Some(dry);
                break;
            }
            let Some(pick) = self.round_robin.next(&has_work) else {
                break;
            };
            // The first unpaused message keeps per-partition order: earlier
            // messages of its partition cannot be paused ones.
            if let Some(m) = self
                .eligible(pick)
                .and_then(|i| self.buffers[pick].remove(i))
            {
                out.push(m);
            }
            // A level that likely has more at the broker ran dry: stop, so the
            // others are not served alone while it waits to be fetched.
            if self.buffers[pick].is_empty() && self.wait_for(pick) {
                self.refill = Some(pick);
                break;
            }
        }
        out
    }

    fn drop_buffered(&mut self, partitions: &BTreeSet<Partition>) {
        for b in &mut self.buffers {
            b.retain(|m| !partitions.contains(&m.partition));
        }
        self.full_paused.retain(|p| !partitions.contains(p));
        self.user_paused.retain(|p| !partitions.contains(p));
    }

    fn on_event(&mut self, event: ConsumerEvent) -> Result<Option<ConsumerEvent>, BrokerError> {
        match event {
            ConsumerEvent::Messages(m) => {
                self.take_in(m)?;
                Ok(None)
            }
            ConsumerEvent::Revoked(r) => {
                self.drop_buffered(&r);
                Ok(Some(ConsumerEvent::Revoked(r)))
            }
            assigned => Ok(Some(assigned)),
        }
    }
}

/// Polls `fut` once without waiting; `None` if it is not ready.
fn now_or_never<F: Future>(fut: F) -> Option<F::Output> {
    let fut = pin!(fut);
    match fut.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

impl<C: Consumer> Consumer for PriorityConsumer<C> {
    async fn subscribe(&mut self, topics: &[Topic]) -> Result<(), BrokerError> {
        let mut all = Vec::new();
        self.level_of.clear();
        for queue in topics {
            for (level, t) in self.levels.topics(queue).into_iter().enumerate() {
                self.level_of.insert(t.clone(), level);
                all.push(t);
            }
        }
        self.inner.subscribe(&all).await
    }

    async fn poll(&mut self) -> Result<ConsumerEvent, BrokerError> {
        loop {
            // Top up without waiting (the inner poll is cancel-safe).
            while self.buffers.iter().any(|b| b.len() < self.max) && self.worth_a_read() {
                match now_or_never(self.inner.poll()) {
                    Some(event) => {
                        if let Some(e) = self.on_event(event?)? {
                            return Ok(e);
                        }
                    }
                    None => break,
                }
            }
            if let Some(level) = self.refill {
                if self.buffers[level].is_empty() && self.more_waiting(level) {
                    // Fetch (waiting, but not past the deadline) before
                    // serving, so the dry level gets its turn. A fetch that
                    // brings only other levels (a read already in flight)
                    // is buffered, and the wait goes on.
                    let deadline = *self
                        .refill_deadline
                        .get_or_insert_with(|| Instant::now() + self.refill_wait);
                    self.release_drained()?;
                    if let Ok(event) = tokio::time::timeout_at(deadline, self.inner.poll()).await {
                        if let Some(e) = self.on_event(event?)? {
                            return Ok(e);
                        }
                        continue;
                    }
                    // Nothing came: serve the others, and stop guessing
                    // that this level is busy until a full batch says so.
                    self.busy[level] = false;
                }
                self.refill = None;
                self.refill_deadline = None;
            }
            let batch = self.emit();
            self.release_drained()?;
            if !batch.is_empty() {
                return Ok(ConsumerEvent::Messages(batch));
            }
            if self.refill.is_some() {
                // Wait for the dry level above, up to the refill wait.
                continue;
            }
            let event = self.inner.poll().await?;
            if let Some(e) = self.on_event(event)? {
                return Ok(e);
            }
        }
    }

    fn pause(&mut self, partitions: &[Partition]) -> Result<(), BrokerError> {
        self.inner.pause(partitions)?;
        self.user_paused.extend(partitions.iter().cloned());
        Ok(())
    }

    fn resume(&mut self, partitions: &[Partition]) -> Result<(), BrokerError> {
        let inner: Vec<Partition> = partitions
            .iter()
            .filter(|p| !self.full_paused.contains(*p))
            .cloned()
            .collect();
        // Check ownership even when every partition stays paused for fullness.
        for p in partitions {
            if !self.inner.assignment().contains(p) {
                return Err(BrokerError::NotAssigned {
                    partition: p.clone(),
                });
            }
        }
        self.inner.resume(&inner)?;
        for p in partitions {
            self.user_paused.remove(p);
        }
        Ok(())
    }

    fn paused(&self) -> BTreeSet<Partition> {
        self.user_paused.clone()
    }

    fn seek(&mut self, partition: &Partition, offset: u64) -> Result<(), BrokerError> {
        self.inner.seek(partition, offset)?;
        for b in &mut self.buffers {
            b.retain(|m| &m.partition != partition);
        }
        let level = self.level(partition);
        self.may_wait[level] = true;
        Ok(())
    }

    fn assignment(&self) -> BTreeSet<Partition> {
        self.inner.assignment()
    }

    fn position(&self, partition: &Partition) -> Option<u64> {
        let buffered = self.buffers[self.level(partition)]
            .iter()
            .find(|m| &m.partition == partition)
            .map(|m| m.offset);
        buffered.or_else(|| self.inner.position(partition))
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
        let buffered = self.buffers[self.level(partition)]
            .iter()
            .filter(|m| &m.partition == partition)
            .count() as u64;
        self.inner.lag(partition).map(|l| l + buffered)
    }

    async fn close(&mut self) -> Result<(), BrokerError> {
        self.inner.close().await
    }
}
