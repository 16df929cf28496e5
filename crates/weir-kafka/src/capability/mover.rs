//! The delay mover of one topic: reads its delay topic, holds what is not
//! due, and moves what is due to the topic.
//!
//! ## Why it reads ahead
//!
//! A delay topic is a log in arrival order, not in due order: a retry due
//! in an hour may come before one due in a second. The mover reads each
//! partition to its end and holds the entries in memory ([`Pending`]),
//! so an entry falls due on time whatever waits before it. What it holds
//! is bounded: a partition holding [`CapabilityConfig::delay_hold`](crate::CapabilityConfig::delay_hold)
//! entries is paused (no more fetches; what librdkafka had prefetched is
//! fetched again on resume, see the consumer's `fetch` module) until moves
//! make room. Past that bound, due order holds only among the entries held.
//!
//! ## Why nothing is lost
//!
//! The mover commits a delay partition only up to its first entry still
//! held: everything before it was appended to the topic and acknowledged.
//! A crash (or a rebalance) between a move and its commit makes the next
//! owner read those entries again and move them a second time: duplicates,
//! never a loss.
//!
//! ## Who moves what
//!
//! Every broker handle that moves the due entries of a topic runs one mover
//! for it, a member of the consumer group `weir-delay-mover:{topic}`: the
//! group divides the delay topic's partitions among the processes, so each
//! entry has one mover. Within a handle, calls take the mover in turns.
//! Nothing runs between calls: [`Mover::catch_up`] reads to the end as
//! listed when it is called, waiting for librdkafka's wake-ups rather than
//! polling. While the group forms (seconds: Kafka delays a new group's
//! first assignment), a call waits for this member's share only if some
//! entry waits past the group's committed offsets; otherwise it returns at
//! once, so a worker with many topics does not wait out one join per topic
//! when nothing is delayed.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use weir_core::{
    Broker, BrokerError, CommitRequest, Consumer, ConsumerConfig, ConsumerEvent, OffsetReset,
    Partition, Payload, Produced, Producer, Topic,
};

use super::KafkaCapabilityError;
use super::delay_entry;
use super::ends::ends;
use super::pending::Pending;
use crate::{KafkaBroker, KafkaConsumer, KafkaProducer};

/// How often a mover waiting for its group looks whether it joined (an
/// empty share of the partitions comes without an event to wake it).
const JOIN_RECHECK: Duration = Duration::from_millis(100);

/// The most entries one append of due entries takes.
const MOVE_BATCH: usize = 1000;

/// The consumer group of the movers of `topic`.
pub(crate) fn group_of(topic: &Topic) -> String {
    format!("weir-delay-mover:{topic}")
}

/// The mover of one topic's delay topic.
#[derive(Debug)]
pub(crate) struct Mover {
    target: Topic,
    delay: Topic,
    /// The delay topic's partition count.
    partitions: u32,
    /// The group's committed offsets when this mover started.
    committed_before: BTreeMap<Partition, u64>,
    group: String,
    consumer: KafkaConsumer,
    producer: KafkaProducer,
    pending: Pending,
    /// What is committed (or was the start) per owned delay partition.
    committed: BTreeMap<Partition, u64>,
    hold: usize,
    patience: Duration,
}

impl Mover {
    /// A mover of `delay` into `target`, subscribed to `delay`.
    pub(crate) async fn start(
        broker: &KafkaBroker,
        target: Topic,
        delay: Topic,
        partitions: u32,
    ) -> Result<Self, BrokerError> {
        let group = group_of(&target);
        let config = ConsumerConfig::builder(group.clone())
            .offset_reset(OffsetReset::Earliest)
            .max_poll_records(MOVE_BATCH)
            .build()?;
        let mut consumer = broker.consumer(config).await?;
        // Asked before joining: once the join is under way, librdkafka
        // holds the question until it ends.
        let parts: Vec<Partition> = (0..partitions).map(|i| delay.partition(i)).collect();
        let committed_before = consumer
            .committed(&parts)
            .await?
            .into_iter()
            .map(|(p, at)| (p, at.unwrap_or(0)))
            .collect();
        consumer.subscribe(std::slice::from_ref(&delay)).await?;
        Ok(Mover {
            target,
            delay,
            partitions,
            committed_before,
            group,
            consumer,
            producer: broker.producer().await?,
            pending: Pending::default(),
            committed: BTreeMap::new(),
            hold: broker.config().capabilities().delay_hold(),
            patience: broker.config().request_timeout(),
        })
    }

    /// Reads every partition this member owns (and has room for) up to its
    /// end as it is now (see `ends`).
    pub(crate) async fn catch_up(&mut self, broker: &KafkaBroker) -> Result<(), BrokerError> {
        let deadline = Instant::now() + self.patience;
        // Serve what librdkafka queued since the last call (a rebalance
        // callback, say): without a poll, a new share is never taken.
        if let Ok(event) = tokio::time::timeout(Duration::ZERO, self.consumer.poll()).await {
            self.take(event?)?;
        }
        if !self.consumer.settled() && !self.anything_waits(broker).await? {
            // The group is still forming, and nothing waits to be moved:
            // no need to wait for it (a later call takes the share).
            return Ok(());
        }
        while !self.consumer.settled() {
            if Instant::now() >= deadline {
                return Err(KafkaCapabilityError::NotJoined {
                    topic: self.delay.clone(),
                    group: self.group.clone(),
                    waited: self.patience,
                }
                .into());
            }
            if let Ok(event) = tokio::time::timeout(JOIN_RECHECK, self.consumer.poll()).await {
                self.take(event?)?;
            }
        }
        let mut ends_of: BTreeMap<Partition, u64> = BTreeMap::new();
        loop {
            while self.consumer.group_change_waiting() {
                let event = self.poll_until(deadline).await?;
                self.take(event)?;
            }
            let paused = self.consumer.paused();
            let reading: Vec<Partition> = self
                .consumer
                .assignment()
                .into_iter()
                .filter(|p| !paused.contains(p))
                .collect();
            let unknown: Vec<Partition> = reading
                .iter()
                .filter(|p| !ends_of.contains_key(*p))
                .cloned()
                .collect();
            if !unknown.is_empty() {
                let consumer = &self.consumer;
                let found = ends(broker, &unknown, |p| consumer.seen_end(p)).await?;
                ends_of.extend(unknown.into_iter().zip(found));
            }
            let behind = reading.iter().any(|p| {
                let end = ends_of.get(p).copied().unwrap_or(0);
                self.consumer.position(p).unwrap_or(0) < end
            });
            if !behind {
                return Ok(());
            }
            let event = self.poll_until(deadline).await?;
            self.take(event)?;
        }
    }

    /// Whether any partition of the delay topic holds entries past the
    /// group's committed offset as it was when this mover started: entries
    /// perhaps not moved yet, by any member. (Moves committed since by
    /// others only make it answer yes when it need not.)
    async fn anything_waits(&self, broker: &KafkaBroker) -> Result<bool, BrokerError> {
        let parts: Vec<Partition> = (0..self.partitions)
            .map(|i| self.delay.partition(i))
            .collect();
        let consumer = &self.consumer;
        let ends = ends(broker, &parts, |p| consumer.seen_end(p)).await?;
        Ok(parts
            .iter()
            .zip(ends)
            .any(|(p, end)| end > self.committed_before.get(p).copied().unwrap_or(0)))
    }

    async fn poll_until(&mut self, deadline: Instant) -> Result<ConsumerEvent, BrokerError> {
        match tokio::time::timeout_at(deadline, self.consumer.poll()).await {
            Ok(event) => event,
            Err(_) => Err(KafkaCapabilityError::Behind {
                topic: self.delay.clone(),
                waited: self.patience,
            }
            .into()),
        }
    }

    /// Takes in what the consumer reported.
    fn take(&mut self, event: ConsumerEvent) -> Result<(), BrokerError> {
        match event {
            ConsumerEvent::Assigned(starts) => self.committed.extend(starts),
            ConsumerEvent::Revoked(gone) => {
                for p in gone {
                    self.pending.drop_partition(p.index);
                    self.committed.remove(&p);
                }
            }
            ConsumerEvent::Messages(batch) => {
                let mut full = Vec::new();
                for m in batch {
                    let entry = delay_entry::unwrap(&self.target, m.payload);
                    self.pending.hold((m.partition.index, m.offset), entry);
                    if self.pending.held(m.partition.index) >= self.hold
                        && !full.contains(&m.partition)
                    {
                        full.push(m.partition);
                    }
                }
                if !full.is_empty() {
                    self.consumer.pause(&full)?;
                }
            }
        }
        Ok(())
    }

    /// Appends the entries due by `now` to the topic, earliest first, and
    /// commits what was appended. Entries of a topic deleted meanwhile go
    /// with it.
    pub(crate) async fn move_due(&mut self, now: SystemTime) -> Result<Vec<Produced>, BrokerError> {
        let mut moved = Vec::new();
        let mut failure = None;
        loop {
            let keys = self.pending.due(now, MOVE_BATCH);
            if keys.is_empty() {
                break;
            }
            let batch = keys
                .iter()
                .filter_map(|key| self.pending.get(*key))
                .map(|w| (w.destination.clone(), w.payload.clone()))
                .collect::<Vec<(_, Payload)>>();
            let appended = self.producer.produce_batch(batch).await;
            for (key, result) in keys.into_iter().zip(appended) {
                match result {
                    Ok(produced) => {
                        self.pending.release(key);
                        moved.push(produced);
                    }
                    Err(BrokerError::UnknownTopic { topic }) => {
                        tracing::warn!(%topic, "kafka: a delayed entry's topic is gone; so is the entry");
                        self.pending.release(key);
                    }
                    Err(e) => {
                        failure.get_or_insert(e);
                    }
                }
            }
            if failure.is_some() {
                break;
            }
        }
        self.commit().await;
        self.resume_with_room()?;
        failure.map_or(Ok(moved), Err)
    }

    /// Commits each owned partition up to its first entry still held.
    async fn commit(&mut self) {
        let mut request = CommitRequest::new();
        for p in self.consumer.assignment() {
            let point = self
                .pending
                .first_held(p.index)
                .or_else(|| self.consumer.position(&p));
            if let Some(point) = point
                && self.committed.get(&p).is_none_or(|done| point > *done)
            {
                request.insert(p, point);
            }
        }
        if request.is_empty() {
            return;
        }
        match self.consumer.commit(&request).await {
            Ok(()) => self.committed.extend(request),
            // The entries are in the topic: at worst they move again.
            Err(e) => {
                tracing::warn!(topic = %self.delay, error = %weir_core::ErrorReport::new(&e), "kafka: committing moved delay entries failed; they may be moved again")
            }
        }
    }

    /// Resumes the paused partitions that have room again.
    fn resume_with_room(&mut self) -> Result<(), BrokerError> {
        let room: Vec<Partition> = self
            .consumer
            .paused()
            .into_iter()
            .filter(|p| self.pending.held(p.index) < self.hold)
            .collect();
        if room.is_empty() {
            Ok(())
        } else {
            self.consumer.resume(&room)
        }
    }

    /// When the earliest entry held falls due.
    pub(crate) fn next_due(&self) -> Option<SystemTime> {
        self.pending.next_due()
    }
}
