//! Consuming from the memory broker as a member of a group.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use weir_core::{
    Assignment, BrokerError, BrokerValue, CommitRequest, Consumer, ConsumerConfig, ConsumerEvent,
    OffsetReset, Partition, Polled, RecordBatch, Topic,
};

use crate::MemoryBroker;
use crate::group::{GroupEvent, Signal};
use crate::log::Run;
use crate::topic::{TopicState, lock};

/// A member of a consumer group on the memory broker.
///
/// Dropping it leaves the group (like a crashed process): its partitions go
/// to the other members and reading resumes from the committed offsets.
#[derive(Debug)]
pub struct MemoryConsumer {
    broker: MemoryBroker,
    config: ConsumerConfig,
    id: u64,
    signal: Arc<Signal>,
    topics: Vec<Arc<TopicState>>,
    /// What this member owns, hands over and has paused.
    assignment: Assignment,
    /// The read position of each owned partition.
    cursors: BTreeMap<Partition, Cursor>,
    /// Partitions announced as revoked whose hand-over the next poll acknowledges.
    awaiting_ack: bool,
    /// Where the next fetch starts, so every partition gets its turn.
    turn: usize,
    joined: bool,
    /// Closed for good: every call is [`BrokerError::Closed`].
    closed: bool,
}

#[derive(Debug)]
struct Cursor {
    topic: Arc<TopicState>,
    position: u64,
}

impl MemoryConsumer {
    pub(crate) fn new(broker: MemoryBroker, config: ConsumerConfig) -> Self {
        let id = broker.inner.new_member_id();
        MemoryConsumer {
            broker,
            config,
            id,
            signal: Arc::new(Signal::default()),
            topics: Vec::new(),
            assignment: Assignment::new(),
            cursors: BTreeMap::new(),
            awaiting_ack: false,
            turn: 0,
            joined: false,
            closed: false,
        }
    }

    /// [`BrokerError::Closed`] once the consumer was closed.
    fn check_open(&self) -> Result<(), BrokerError> {
        if self.closed {
            Err(BrokerError::Closed("consumer"))
        } else {
            Ok(())
        }
    }

    /// Where reading starts when the offset asked for lies past the end:
    /// where the reset policy says, as on Kafka.
    fn reset(&self, start: u64, end: u64) -> u64 {
        match self.config.offset_reset() {
            OffsetReset::Earliest => start,
            OffsetReset::Latest => end,
        }
    }

    /// Handles the hand-over and collects one group event, if any.
    fn group_event(&mut self) -> Option<ConsumerEvent> {
        let mut groups = lock(&self.broker.inner.groups);
        let group = groups.get_mut(self.config.group_id())?;
        if self.awaiting_ack {
            group.ack_revoked(self.id);
            self.assignment.hand_over();
            self.awaiting_ack = false;
        }
        // Revocations whose deadline passed are forced before looking at events.
        group.expire(tokio::time::Instant::now());
        self.signal.event.store(false, Ordering::Release);
        match group.next_event(self.id)? {
            GroupEvent::Revoked(set) => {
                for p in &set {
                    self.cursors.remove(p);
                    self.assignment.revoke(p);
                }
                self.awaiting_ack = true;
                Some(ConsumerEvent::Revoked(set))
            }
            GroupEvent::Assigned(set) => {
                let mut starts = BTreeMap::new();
                for p in set {
                    let Ok(topic) = self.broker.inner.topic(&p.topic) else {
                        continue;
                    };
                    let Some((start, end)) = topic.log(p.index).map(|l| (l.start(), l.end()))
                    else {
                        continue;
                    };
                    let position = match (group.committed(&p), self.config.offset_reset()) {
                        // A committed offset past the end (the log was
                        // made anew) is out of range: the reset policy's.
                        (Some(c), _) if c > end => self.reset(start, end),
                        (Some(c), _) => c.max(start),
                        (None, OffsetReset::Earliest) => start,
                        (None, OffsetReset::Latest) => end,
                    };
                    self.cursors.insert(p.clone(), Cursor { topic, position });
                    self.assignment.assign(p.clone());
                    starts.insert(p, position);
                }
                Some(ConsumerEvent::Assigned(starts))
            }
        }
    }

    /// Reads up to `max_poll_records` from the assigned, unpaused partitions.
    fn fetch(&mut self) -> Vec<BrokerValue<weir_core::Payload>> {
        // Sized up front: growing a Vec of messages one push at a time copies
        // it over and over (capped, since `max` may be huge).
        let mut out = Vec::with_capacity(self.config.max_poll_records().min(1024));
        self.fetch_runs(|run, p, first| out.extend(run.messages(p, first)));
        out
    }

    /// Reads as [`fetch`](Self::fetch) does, lending the messages as
    /// record batches (one per chunk of the log touched).
    fn fetch_batches(&mut self) -> Vec<RecordBatch> {
        let mut out = Vec::new();
        self.fetch_runs(|run, p, first| {
            if run.len() > 0 {
                out.push(run.batch(p, first));
            }
        });
        out
    }

    /// Hands `take` each run of messages read, with its partition and
    /// first offset: up to `max_poll_records` in all, from the assigned,
    /// unpaused partitions, a different one first at each call.
    fn fetch_runs(&mut self, mut take: impl FnMut(Run<'_>, &Partition, u64)) {
        let max = self.config.max_poll_records();
        let mut taken = 0;
        let n = self.cursors.len();
        if n == 0 {
            return;
        }
        self.turn = (self.turn + 1) % n;
        let turn = self.turn;
        // Partitions from `turn` on first, then the ones before it.
        let assignment = &self.assignment;
        for pass in 0..2 {
            for (i, (p, c)) in self.cursors.iter_mut().enumerate() {
                if (pass == 0) != (i >= turn) || assignment.is_paused(p) || taken >= max {
                    continue;
                }
                let Some(log) = c.topic.log(p.index) else {
                    continue;
                };
                let read = log.read(c.position, max - taken);
                let mut next = read.first;
                for run in read {
                    let n = run.len();
                    take(run, p, next);
                    next += n as u64;
                    taken += n;
                }
                c.position = next;
            }
        }
    }

    /// Waits until there is something to report: a group event, or what
    /// `fetch` reads.
    async fn next<R>(
        &mut self,
        fetch: impl Fn(&mut Self) -> Option<R>,
        event: impl Fn(ConsumerEvent) -> R,
    ) -> Result<R, BrokerError> {
        self.check_open()?;
        if !self.joined {
            return Err(BrokerError::NotSubscribed);
        }
        loop {
            // Register interest before looking, so a wake-up between the look
            // and the wait is not lost (the permit is stored).
            let signal = Arc::clone(&self.signal);
            let notified = signal.notify.notified();
            if (self.awaiting_ack || self.signal.event.load(Ordering::Acquire))
                && let Some(e) = self.group_event()
            {
                return Ok(event(e));
            }
            if let Some(read) = fetch(self) {
                return Ok(read);
            }
            let deadline = lock(&self.broker.inner.groups)
                .get(self.config.group_id())
                .and_then(|g| g.next_deadline());
            match deadline {
                Some(d) => {
                    tokio::select! {
                        () = notified => {}
                        () = tokio::time::sleep_until(d) => {
                            let mut groups = lock(&self.broker.inner.groups);
                            if let Some(g) = groups.get_mut(self.config.group_id()) {
                                g.expire(tokio::time::Instant::now());
                            }
                        }
                    }
                }
                None => notified.await,
            }
        }
    }

    fn leave(&mut self) {
        if !self.joined {
            return;
        }
        self.joined = false;
        for t in &self.topics {
            t.remove_waiter(&self.signal);
        }
        let counts = self.broker.inner.partition_counts();
        let mut groups = lock(&self.broker.inner.groups);
        // The group (and its committed offsets) outlives its last member, so a
        // restarted member resumes where the group left off.
        if let Some(g) = groups.get_mut(self.config.group_id()) {
            g.leave(self.id, &counts);
        }
        self.cursors.clear();
        self.assignment.clear();
    }
}

impl Consumer for MemoryConsumer {
    async fn subscribe(&mut self, topics: &[Topic]) -> Result<(), BrokerError> {
        self.check_open()?;
        let states = topics
            .iter()
            .map(|t| self.broker.inner.topic(t))
            .collect::<Result<Vec<_>, _>>()?;
        for t in &self.topics {
            t.remove_waiter(&self.signal);
        }
        for t in &states {
            t.add_waiter(&self.signal);
        }
        self.topics = states;
        let counts = self.broker.inner.partition_counts();
        let mut groups = lock(&self.broker.inner.groups);
        let group = groups
            .entry(self.config.group_id().to_owned())
            .or_insert_with(|| self.broker.inner.new_group());
        if !self.joined {
            group.join(self.id, Arc::clone(&self.signal));
            self.joined = true;
        }
        group.subscribe(self.id, topics.iter().cloned().collect(), &counts);
        Ok(())
    }

    async fn poll(&mut self) -> Result<ConsumerEvent, BrokerError> {
        let fetch = |c: &mut Self| {
            let messages = c.fetch();
            (!messages.is_empty()).then_some(ConsumerEvent::Messages(messages))
        };
        self.next(fetch, |e| e).await
    }

    /// Lends messages out of the log: a full chunk of it (1024 messages)
    /// is shared with the batches read from it, and the chunk still being
    /// filled is copied (see [`RecordBatch`]).
    async fn poll_batches(&mut self) -> Result<Polled, BrokerError> {
        let fetch = |c: &mut Self| {
            let batches = c.fetch_batches();
            (!batches.is_empty()).then_some(Polled::Batches(batches))
        };
        self.next(fetch, Polled::Event).await
    }

    fn pause(&mut self, partitions: &[Partition]) -> Result<(), BrokerError> {
        self.check_open()?;
        self.assignment.pause(partitions)
    }

    fn resume(&mut self, partitions: &[Partition]) -> Result<(), BrokerError> {
        self.check_open()?;
        self.assignment.resume(partitions)?;
        // Paused partitions may hold data that arrived meanwhile.
        self.signal.notify.notify_one();
        Ok(())
    }

    fn paused(&self) -> BTreeSet<Partition> {
        self.assignment.paused().clone()
    }

    /// A seek past the end is out of range and goes where the reset policy
    /// says at once (the earliest message, or the end), as Kafka's fetch
    /// does, rather than wait for offsets not written yet.
    fn seek(&mut self, partition: &Partition, offset: u64) -> Result<(), BrokerError> {
        self.check_open()?;
        self.assignment.check_owned(partition)?;
        let bounds = self
            .cursors
            .get(partition)
            .and_then(|c| c.topic.log(partition.index))
            .map(|l| (l.start(), l.end()));
        let position = match bounds {
            Some((start, end)) if offset > end => self.reset(start, end),
            _ => offset,
        };
        if let Some(c) = self.cursors.get_mut(partition) {
            c.position = position;
        }
        self.signal.notify.notify_one();
        Ok(())
    }

    fn assignment(&self) -> BTreeSet<Partition> {
        // A partition taken away at the rebalance deadline is no longer ours,
        // even before the next poll reports it.
        let groups = lock(&self.broker.inner.groups);
        let group = groups.get(self.config.group_id());
        self.assignment
            .owned()
            .iter()
            .filter(|p| group.is_some_and(|g| g.holds(self.id, p)))
            .cloned()
            .collect()
    }

    fn position(&self, partition: &Partition) -> Option<u64> {
        self.cursors.get(partition).map(|c| c.position)
    }

    async fn commit(&mut self, offsets: &CommitRequest) -> Result<(), BrokerError> {
        self.check_open()?;
        for (p, _) in offsets.iter() {
            self.assignment.check_committable(p)?;
        }
        if offsets.is_empty() {
            return Ok(());
        }
        // The ends are read before the group is locked (never a topic lock
        // inside the group lock); a partition's end only grows meanwhile.
        let ends = offsets
            .iter()
            .map(|(p, _)| {
                let log_end = self
                    .broker
                    .inner
                    .topic(&p.topic)?
                    .log(p.index)
                    .map(|l| l.end());
                Ok(log_end.unwrap_or(0))
            })
            .collect::<Result<Vec<u64>, BrokerError>>()?;
        let mut groups = lock(&self.broker.inner.groups);
        let group = groups
            .get_mut(self.config.group_id())
            .ok_or(BrokerError::NotSubscribed)?;
        // A revoked partition the rebalance deadline took away is no
        // longer this member's, though the next poll has yet to say so.
        // Ownership is checked before the range, so a misuse names the
        // partition the member does not hold.
        if let Some((p, _)) = offsets.iter().find(|(p, _)| !group.holds(self.id, p)) {
            return Err(BrokerError::NotAssigned {
                partition: p.clone(),
            });
        }
        if let Some(((p, offset), end)) = offsets.iter().zip(ends).find(|((_, o), end)| o > end) {
            return Err(BrokerError::OffsetOutOfRange {
                partition: p.clone(),
                offset,
                end,
            });
        }
        for (p, o) in offsets.iter() {
            group.commit(p.clone(), o);
        }
        Ok(())
    }

    async fn committed(
        &mut self,
        partitions: &[Partition],
    ) -> Result<BTreeMap<Partition, Option<u64>>, BrokerError> {
        self.check_open()?;
        let groups = lock(&self.broker.inner.groups);
        let group = groups.get(self.config.group_id());
        Ok(partitions
            .iter()
            .map(|p| (p.clone(), group.and_then(|g| g.committed(p))))
            .collect())
    }

    fn lag(&self, partition: &Partition) -> Option<u64> {
        let c = self.cursors.get(partition)?;
        let end = c.topic.log(partition.index)?.end();
        Some(end.saturating_sub(c.position))
    }

    async fn close(&mut self) -> Result<(), BrokerError> {
        self.leave();
        self.closed = true;
        Ok(())
    }
}

impl Drop for MemoryConsumer {
    fn drop(&mut self) {
        self.leave();
    }
}

#[cfg(test)]
mod tests {
    use weir_core::{Broker, Destination, Payload, Producer};

    use super::*;
    use crate::alloc_count::allocations;

    /// A consumer of `topic` with room for `max` messages a poll, assigned.
    async fn assigned(broker: &MemoryBroker, topic: &Topic, max: usize) -> MemoryConsumer {
        let config = ConsumerConfig::builder("readers")
            .max_poll_records(max)
            .build()
            .expect("config");
        let mut c = broker.consumer(config).await.expect("consumer");
        c.subscribe(std::slice::from_ref(topic))
            .await
            .expect("subscribe");
        assert!(matches!(
            c.poll().await.expect("poll"),
            ConsumerEvent::Assigned(_)
        ));
        c
    }

    #[tokio::test]
    async fn lending_full_chunks_allocates_per_poll_not_per_message() {
        use crate::chunked::CHUNK;
        let two = allocations_of_lending(2 * CHUNK).await;
        let four = allocations_of_lending(4 * CHUNK).await;
        assert_eq!(two, four, "lending 4 chunks allocates as lending 2");
        assert!(four <= 1, "{four} allocations for one poll");
    }

    /// A consumer assigned a topic that holds `n` messages, each produced
    /// from a buffer of its own, with a key and a header.
    async fn filled(n: usize) -> MemoryConsumer {
        let broker = MemoryBroker::new();
        let topic = Topic::new("t");
        broker.create_topic(&topic, 1).expect("topic");
        let batch = (0..n)
            .map(|i| {
                let payload = Payload::new(vec![i as u8; 100])
                    .with_key(format!("key-{i}").into_bytes())
                    .with_header("attempt", vec![b'1']);
                (Destination::Topic(topic.clone()), payload)
            })
            .collect();
        let producer = broker.producer().await.expect("producer");
        for r in producer.produce_batch(batch).await {
            r.expect("produced");
        }
        assigned(&broker, &topic, n).await
    }

    /// Allocations of one `poll_batches` of `n` messages, all in full chunks.
    async fn allocations_of_lending(n: usize) -> u64 {
        let mut consumer = filled(n).await;
        let before = allocations();
        let polled = consumer.poll_batches().await.expect("poll_batches");
        let spent = allocations() - before;
        let Polled::Batches(batches) = polled else {
            panic!("expected lent batches, got {polled:?}")
        };
        let lent: usize = batches.iter().map(RecordBatch::len).sum();
        assert_eq!(lent, n);
        let last = batches
            .last()
            .and_then(|b| b.iter().last())
            .expect("a message");
        assert_eq!(
            (last.offset, last.payload.value[0]),
            ((n - 1) as u64, (n - 1) as u8)
        );
        spent
    }

    /// Allocations of one poll returning `n` messages.
    async fn allocations_of_poll(n: usize) -> u64 {
        let mut consumer = filled(n).await;
        let before = allocations();
        let event = consumer.poll().await.expect("poll");
        let spent = allocations() - before;
        match event {
            ConsumerEvent::Messages(m) => {
                assert_eq!(m.len(), n);
                assert_eq!(m[n - 1].payload.value[0], (n - 1) as u8);
                assert_eq!(
                    m[n - 1].payload.key.as_deref(),
                    Some(format!("key-{}", n - 1).as_bytes())
                );
                assert_eq!(
                    m[0].payload.headers.get("attempt").map(|v| &v[..]),
                    Some(&b"1"[..])
                );
            }
            other => panic!("expected messages, got {other:?}"),
        }
        spent
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_poll_wakes_when_a_message_arrives() {
        let broker = MemoryBroker::new();
        let topic = Topic::new("t");
        broker.create_topic(&topic, 1).expect("topic");
        let mut consumer = assigned(&broker, &topic, 10).await;
        let waiting = tokio::spawn(async move { consumer.poll().await });
        // Let the poll find nothing and wait.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!waiting.is_finished());
        let producer = broker.producer().await.expect("producer");
        producer
            .produce(Destination::Topic(topic.clone()), Payload::new("hi"))
            .await
            .expect("produced");
        let event = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("woken, not timed out")
            .expect("the task")
            .expect("poll");
        assert!(matches!(event, ConsumerEvent::Messages(m) if &m[0].payload.value[..] == b"hi"));
    }

    #[tokio::test]
    async fn reading_allocates_per_poll_not_per_message() {
        let few = allocations_of_poll(10).await;
        let many = allocations_of_poll(1000).await;
        assert_eq!(few, many, "a poll of 1000 allocates as a poll of 10");
        assert!(many <= 2, "{many} allocations for one poll");
    }
}
