//! Consuming: a member of a consumer group reading its leased partitions
//! with XREADGROUP on a connection of its own.
//!
//! The member's work is split by concern: `membership` (heartbeats, leases,
//! partitions changing hands), `read` (the blocking read in its own task),
//! `delivery` (entries turned into buffered messages) and `commit`. This
//! file holds the member's state and the `Consumer` calls that tie them
//! together.

mod commit;
mod delivery;
mod membership;
mod read;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use weir_core::{
    Assignment, BrokerError, BrokerValue, CommitRequest, Consumer, ConsumerConfig, ConsumerEvent,
    Partition, Payload, Topic,
};

use crate::broker::Shared;
use crate::connection::Conn;
use crate::group::{heartbeat, member_id, release};
use read::Read;

/// A member of a consumer group on Redis.
///
/// `poll` heartbeats (membership and partition leases), hands partitions over
/// in two steps (`Revoked`, then released on the next poll, so the caller
/// can commit first), and reads with `XREADGROUP ... BLOCK` for a short time
/// on a connection of its own, so other calls never wait behind it. The read
/// runs in a task that outlives a cancelled `poll`: the next poll picks its
/// result up, so cancelling loses nothing.
///
/// A message delivered before (its reader crashed, or the caller sought
/// back) carries the header [`DELIVERY_COUNT_HEADER`](crate::DELIVERY_COUNT_HEADER).
///
/// Dropping the consumer leaves the group in the background (when a tokio
/// runtime is at hand); a crashed process's partitions move once its session
/// times out, and what it read but did not commit is delivered again.
pub struct RedisConsumer {
    shared: Arc<Shared>,
    config: ConsumerConfig,
    member: String,
    reader: Conn,
    /// Commits and delivery-count fixes, on a connection of this consumer's
    /// own: not queued behind producers' pipelines on the shared one.
    control: Conn,
    topics: Vec<Topic>,
    joined: bool,
    /// Closed for good: every call is [`BrokerError::Closed`].
    closed: bool,
    /// What this member owns, hands over (released at the next poll) and
    /// has paused.
    assignment: Assignment,
    /// The state of each partition owned or being handed over.
    owned: BTreeMap<Partition, Owned>,
    inflight: Option<Read>,
    epoch_seen: Option<u64>,
    next_heartbeat: Instant,
    maintain_now: bool,
    /// Some target partitions are still leased by others.
    wanting: bool,
    next_try: Instant,
    /// Redelivered entries whose delivery count the server must learn.
    fixups: Vec<(String, u64, u64)>,
    turn: usize,
    read_failures: u32,
    /// Entries asked of each stream per read: about `max_poll_records`
    /// messages, given how many messages the entries read last held (at most
    /// [`MAX_READ_ENTRIES`]).
    read_count: usize,
}

impl std::fmt::Debug for RedisConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConsumer")
            .field("group", &self.config.group_id())
            .field("member", &self.member)
            .field("owned", &self.owned.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub(super) struct Owned {
    stream: String,
    /// The partition's message counter (see `offsets.rs`).
    end_key: String,
    position: u64,
    /// The entries (by end, see `offsets.rs`) this member read since it was
    /// positioned and has not acknowledged, oldest first: a commit
    /// acknowledges those it passes.
    unacked: VecDeque<u64>,
    /// A seek waiting to be applied on the server.
    seek: Option<u64>,
    /// Positioned on the server, and nothing read since.
    just_positioned: bool,
    /// Pending entries (by end) read before, and how often.
    delivered_before: HashMap<u64, u64>,
    /// Until when the lease surely holds (measured from before it was renewed).
    valid_until: Instant,
    buffer: VecDeque<BrokerValue<Payload>>,
    /// The partition's end (the offset after its last message) when last read.
    end: Option<u64>,
}

impl RedisConsumer {
    /// A consumer that connects on first use (no I/O now).
    pub(crate) fn new(shared: Arc<Shared>, config: ConsumerConfig) -> Self {
        // Both connections are made on first use: a consumer may be made
        // while the server is down, and connects once it is back.
        let response = shared.config.block_time + Duration::from_secs(5);
        let reader = Conn::lazy(&shared.client, &shared.config, response);
        let control = Conn::lazy(&shared.client, &shared.config, Duration::from_secs(10));
        let member = member_id(config.client_id());
        let now = Instant::now();
        RedisConsumer {
            shared,
            config,
            member,
            reader,
            control,
            topics: Vec::new(),
            joined: false,
            closed: false,
            assignment: Assignment::new(),
            owned: BTreeMap::new(),
            inflight: None,
            epoch_seen: None,
            next_heartbeat: now,
            maintain_now: true,
            wanting: false,
            next_try: now,
            fixups: Vec::new(),
            turn: 0,
            read_failures: 0,
            read_count: 1,
        }
    }

    /// This member's id in the group (also its Redis consumer name).
    pub fn member_id(&self) -> &str {
        &self.member
    }

    fn group(&self) -> &str {
        self.config.group_id()
    }

    fn session(&self) -> Duration {
        self.shared.config.session_timeout
    }

    /// [`BrokerError::Closed`] once the consumer was closed.
    fn check_open(&self) -> Result<(), BrokerError> {
        if self.closed {
            Err(BrokerError::Closed("consumer"))
        } else {
            Ok(())
        }
    }
}

impl Consumer for RedisConsumer {
    async fn subscribe(&mut self, topics: &[Topic]) -> Result<(), BrokerError> {
        self.check_open()?;
        for t in topics {
            self.shared.forget_topic(t);
            self.shared.partition_count(t).await?;
        }
        let held: Vec<Partition> = self.owned.keys().cloned().collect();
        heartbeat(&self.shared, self.group(), &self.member, topics, &held).await?;
        self.topics = topics.to_vec();
        self.joined = true;
        self.maintain_now = true;
        Ok(())
    }

    async fn poll(&mut self) -> Result<ConsumerEvent, BrokerError> {
        self.check_open()?;
        if !self.joined {
            return Err(BrokerError::NotSubscribed);
        }
        loop {
            // An earlier read (perhaps of a cancelled poll) is finished first,
            // so no read is in flight when leases are given up.
            self.finish_read().await?;
            self.apply_fixups().await?;
            self.release_revoked().await?;
            let now = Instant::now();
            if self.maintain_now
                || now >= self.next_heartbeat
                || (self.wanting && now >= self.next_try)
            {
                self.maintain_now = false;
                if let Some(event) = self.maintain().await? {
                    return Ok(event);
                }
            }
            self.apply_seeks().await?;
            if let Some(batch) = self.take_buffered() {
                // Read ahead while the caller works on this batch.
                if self.inflight.is_none() && self.buffered() < self.config.max_poll_records() {
                    self.spawn_read();
                }
                return Ok(ConsumerEvent::Messages(batch));
            }
            self.spawn_read();
        }
    }

    fn pause(&mut self, partitions: &[Partition]) -> Result<(), BrokerError> {
        self.check_open()?;
        self.assignment.pause(partitions)
    }

    fn resume(&mut self, partitions: &[Partition]) -> Result<(), BrokerError> {
        self.check_open()?;
        self.assignment.resume(partitions)
    }

    fn paused(&self) -> BTreeSet<Partition> {
        self.assignment.paused().clone()
    }

    /// Applied on the server at the next poll; a seek past the partition's
    /// end is out of range then, and reading starts where the reset policy
    /// says (the earliest message, or the end), as Kafka's fetch does.
    fn seek(&mut self, partition: &Partition, offset: u64) -> Result<(), BrokerError> {
        self.check_open()?;
        self.assignment.check_owned(partition)?;
        if let Some(o) = self.owned.get_mut(partition) {
            o.seek = Some(offset);
            o.position = offset;
            o.buffer.clear();
        }
        Ok(())
    }

    fn assignment(&self) -> BTreeSet<Partition> {
        let now = Instant::now();
        self.assignment
            .owned()
            .iter()
            .filter(|p| self.owned.get(*p).is_some_and(|o| o.valid_until > now))
            .cloned()
            .collect()
    }

    fn position(&self, partition: &Partition) -> Option<u64> {
        let o = self.owned.get(partition)?;
        Some(o.buffer.front().map_or(o.position, |m| m.offset))
    }

    /// How far the stream's end (as of this member's last read of it) is
    /// ahead of the position; `None` before the partition was first read.
    fn lag(&self, partition: &Partition) -> Option<u64> {
        let end = self.owned.get(partition)?.end?;
        Some(end.saturating_sub(self.position(partition)?))
    }

    async fn commit(&mut self, offsets: &CommitRequest) -> Result<(), BrokerError> {
        self.commit_offsets(offsets).await
    }

    async fn committed(
        &mut self,
        partitions: &[Partition],
    ) -> Result<BTreeMap<Partition, Option<u64>>, BrokerError> {
        self.check_open()?;
        let mut pipe = redis::pipe();
        for p in partitions {
            pipe.cmd("HGET")
                .arg(self.shared.keys.offsets(p))
                .arg(self.group());
        }
        let values: Vec<Option<u64>> = self.control.pipe(&pipe).await?;
        Ok(partitions.iter().cloned().zip(values).collect())
    }

    async fn close(&mut self) -> Result<(), BrokerError> {
        self.closed = true;
        if !self.joined {
            return Ok(());
        }
        if let Some(read) = self.inflight.take() {
            read.end().await;
        }
        let parts: Vec<Partition> = self.owned.keys().cloned().collect();
        release(&self.shared, self.group(), &self.member, &parts, true).await?;
        self.joined = false;
        self.owned.clear();
        self.assignment.clear();
        Ok(())
    }
}

impl Drop for RedisConsumer {
    fn drop(&mut self) {
        if !self.joined {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let read = self.inflight.take();
        let shared = Arc::clone(&self.shared);
        let group = self.config.group_id().to_owned();
        let member = self.member.clone();
        let parts: Vec<Partition> = self.owned.keys().cloned().collect();
        runtime.spawn(async move {
            // The read must end before the leases go, or it could take entries
            // from under the next owner.
            if let Some(read) = read {
                read.end().await;
            }
            let _ = release(&shared, &group, &member, &parts, true).await;
        });
    }
}
