//! Consuming: a member of a consumer group reading its leased partitions
//! with XREADGROUP on a connection of its own.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redis::Value;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use weir_core::{
    BrokerError, BrokerValue, CommitRequest, Consumer, ConsumerConfig, ConsumerEvent, Partition,
    Payload, Topic,
};

use crate::broker::Shared;
use crate::connection::Conn;
use crate::entry::{DELIVERY_COUNT_HEADER, Run};
use crate::group::{acquire, heartbeat, member_id, range_assignment, release};
use crate::keys::Keys;
use crate::offsets::{entry_end, entry_id, write_entry_id};
use crate::reclaim::{Start, reposition};
use crate::scripts::COMMIT;

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
    owned: BTreeMap<Partition, Owned>,
    /// Announced as revoked; released at the next poll.
    revoking: BTreeSet<Partition>,
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
struct Owned {
    stream: String,
    /// The partition's message counter (see `offsets.rs`).
    end_key: String,
    position: u64,
    /// The entries (by end, see `offsets.rs`) this member read since it was
    /// positioned and has not acknowledged, oldest first: a commit
    /// acknowledges those it passes.
    unacked: VecDeque<u64>,
    paused: bool,
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

/// A read's replies: the group's epoch, the XREADGROUP reply, and the end of
/// each partition read (in the order of the read's keys).
type ReadReply = (Option<u64>, Value, Vec<Option<u64>>);

struct Read {
    handle: JoinHandle<Result<ReadReply, BrokerError>>,
    /// The streams read, in the order of the command's keys.
    keys: Vec<String>,
    streams: HashMap<String, Partition>,
}

impl RedisConsumer {
    pub(crate) async fn new(
        shared: Arc<Shared>,
        config: ConsumerConfig,
    ) -> Result<Self, BrokerError> {
        let response = shared.config.block_time + Duration::from_secs(5);
        let reader = Conn::connect(&shared.client, &shared.config, response).await?;
        let control = Conn::lazy(&shared.client, &shared.config, Duration::from_secs(10));
        let member = member_id(config.client_id());
        let now = Instant::now();
        Ok(RedisConsumer {
            shared,
            config,
            member,
            reader,
            control,
            topics: Vec::new(),
            joined: false,
            owned: BTreeMap::new(),
            revoking: BTreeSet::new(),
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
        })
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

    /// Heartbeats, then reports lost or revoked partitions, or takes new ones.
    async fn maintain(&mut self) -> Result<Option<ConsumerEvent>, BrokerError> {
        let held: Vec<Partition> = self.owned.keys().cloned().collect();
        let sent = Instant::now();
        let hb = heartbeat(
            &self.shared,
            self.group(),
            &self.member,
            &self.topics,
            &held,
        )
        .await?;
        self.epoch_seen = Some(hb.epoch);
        self.next_heartbeat = sent + self.shared.config.heartbeat_interval;
        let mut lost = BTreeSet::new();
        let session = self.session();
        for (p, renewed) in held.iter().zip(&hb.renewed) {
            // Deleted topics (and vanished partitions) are lost; topics no
            // longer subscribed go through the ordinary hand-over below.
            let gone = match hb.counts.get(&p.topic) {
                Some(Some(n)) => p.index >= *n,
                Some(None) => true,
                None => false,
            };
            match self.owned.get_mut(p) {
                Some(o) if *renewed && !gone => o.valid_until = sent + session,
                _ => {
                    lost.insert(p.clone());
                }
            }
        }
        for t in hb
            .counts
            .iter()
            .filter(|(_, c)| c.is_none())
            .map(|(t, _)| t)
        {
            self.shared.forget_topic(t);
        }
        if !lost.is_empty() {
            // Announced ones were already reported; the rest are news.
            let news: BTreeSet<Partition> = lost
                .iter()
                .filter(|p| !self.revoking.contains(*p))
                .cloned()
                .collect();
            for p in &lost {
                self.owned.remove(p);
                self.revoking.remove(p);
            }
            self.maintain_now = true;
            if !news.is_empty() {
                return Ok(Some(ConsumerEvent::Revoked(news)));
            }
        }
        let target = range_assignment(&self.member, &hb.members, &hb.counts);
        let to_revoke: BTreeSet<Partition> = self
            .owned
            .keys()
            .filter(|p| !target.contains(*p) && !self.revoking.contains(*p))
            .cloned()
            .collect();
        if !to_revoke.is_empty() {
            for p in &to_revoke {
                if let Some(o) = self.owned.get_mut(p) {
                    o.buffer.clear();
                }
            }
            self.revoking.extend(to_revoke.iter().cloned());
            return Ok(Some(ConsumerEvent::Revoked(to_revoke)));
        }
        let want: Vec<Partition> = target
            .iter()
            .filter(|p| !self.owned.contains_key(*p))
            .cloned()
            .collect();
        if want.is_empty() {
            self.wanting = false;
            return Ok(None);
        }
        let sent = Instant::now();
        let got = acquire(&self.shared, self.group(), &self.member, &want).await?;
        let mut positioned = Vec::with_capacity(got.len());
        for p in &got {
            let start = Start::Committed(self.config.offset_reset());
            let pos = reposition(&self.shared, self.group(), &self.member, p, start).await?;
            positioned.push((p.clone(), pos));
        }
        // Only now, with every await done, does the state change (cancel-safe).
        self.wanting = got.len() < want.len();
        self.next_try = Instant::now() + self.shared.config.block_time * 2;
        if positioned.is_empty() {
            return Ok(None);
        }
        let mut starts = BTreeMap::new();
        for (p, pos) in positioned {
            starts.insert(p.clone(), pos.position);
            self.owned.insert(
                p.clone(),
                Owned {
                    stream: self.shared.keys.stream(&p),
                    end_key: self.shared.keys.end(&p),
                    position: pos.position,
                    unacked: VecDeque::new(),
                    paused: false,
                    seek: None,
                    just_positioned: true,
                    delivered_before: pos.delivered_before,
                    valid_until: sent + self.session(),
                    buffer: VecDeque::new(),
                    end: None,
                },
            );
        }
        Ok(Some(ConsumerEvent::Assigned(starts)))
    }

    /// Applies seeks on the server (claiming and recounting what is read again).
    async fn apply_seeks(&mut self) -> Result<(), BrokerError> {
        let sought: Vec<(Partition, u64)> = self
            .owned
            .iter()
            .filter(|(p, _)| !self.revoking.contains(*p))
            .filter_map(|(p, o)| o.seek.map(|s| (p.clone(), s)))
            .collect();
        for (p, offset) in sought {
            let pos = reposition(
                &self.shared,
                self.group(),
                &self.member,
                &p,
                Start::Offset(offset),
            )
            .await;
            let pos = match pos {
                Ok(pos) => pos,
                Err(BrokerError::NotAssigned { .. }) => {
                    // The lease is gone; the next heartbeat reports it.
                    self.maintain_now = true;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(o) = self.owned.get_mut(&p)
                && o.seek == Some(offset)
            {
                o.seek = None;
                o.just_positioned = true;
                o.position = pos.position;
                o.unacked.clear();
                o.delivered_before = pos.delivered_before;
                // A seek emptied the buffer already; repositioning after a
                // broken read keeps what came before the break.
            }
        }
        Ok(())
    }

    /// Starts a blocking read of the readable partitions (or, with none, a
    /// short wait) that also fetches the group's epoch.
    fn spawn_read(&mut self) {
        let now = Instant::now();
        let block_time = self.shared.config.block_time;
        let margin = block_time + Duration::from_millis(500);
        let mut streams = HashMap::new();
        // The streams read, and their partitions' counters, in one order.
        let (mut keys, mut ends) = (Vec::new(), Vec::new());
        for (p, o) in &self.owned {
            if !o.paused
                && o.seek.is_none()
                && !self.revoking.contains(p)
                && o.valid_until > now + margin
            {
                streams.insert(o.stream.clone(), p.clone());
                keys.push(o.stream.clone());
                ends.push(o.end_key.clone());
            }
        }
        let until_heartbeat = self.next_heartbeat.saturating_duration_since(now);
        let block = block_time
            .min(until_heartbeat)
            .max(Duration::from_millis(1));
        let reader = self.reader.clone();
        let epoch_key = self.shared.keys.epoch(self.group());
        let group = self.config.group_id().to_owned();
        let member = self.member.clone();
        let count = self.read_count;
        let keys_in_order = keys.clone();
        let handle = tokio::spawn(async move {
            if keys.is_empty() {
                tokio::time::sleep(block).await;
                let epoch: Option<u64> = reader.query(redis::cmd("GET").arg(&epoch_key)).await?;
                return Ok((epoch, Value::Nil, Vec::new()));
            }
            let mut pipe = redis::pipe();
            pipe.cmd("GET").arg(&epoch_key);
            pipe.cmd("XREADGROUP")
                .arg("GROUP")
                .arg(&group)
                .arg(&member)
                .arg("COUNT")
                .arg(count)
                .arg("BLOCK")
                .arg(block.as_millis() as u64)
                .arg("STREAMS")
                .arg(&keys);
            for _ in &keys {
                pipe.arg(">");
            }
            // Each partition's end, after the read: for `lag`.
            for end in &ends {
                pipe.cmd("GET").arg(end);
            }
            let mut replies: Vec<Value> = reader.pipe(&pipe).await?;
            let ends = replies.split_off(2.min(replies.len()));
            let mut head = replies.into_iter();
            let int = |v: Value| -> Result<Option<u64>, BrokerError> {
                redis::from_redis_value(v).map_err(|e| BrokerError::backend("redis", e))
            };
            let epoch = match head.next() {
                Some(v) => int(v)?,
                None => None,
            };
            let ends = ends.into_iter().map(int).collect::<Result<_, _>>()?;
            Ok((epoch, head.next().unwrap_or(Value::Nil), ends))
        });
        self.inflight = Some(Read {
            handle,
            keys: keys_in_order,
            streams,
        });
    }

    /// Files the messages of a read reply into the partitions' buffers.
    fn take_reply(&mut self, streams: &HashMap<String, Partition>, reply: Value) {
        let (mut entries_read, mut messages_read) = (0usize, 0usize);
        for (key, entries) in stream_entries(reply) {
            let Some(p) = streams.get(&key) else { continue };
            let Some(o) = self.owned.get_mut(p) else {
                continue;
            };
            if o.seek.is_some() || self.revoking.contains(p) {
                // Pending under this member; the next owner or the seek reclaims it.
                continue;
            }
            for (id, fields) in entries {
                let Some(end) = entry_end(&id) else {
                    continue;
                };
                if end <= o.position {
                    continue;
                }
                let run = Run::from_fields(fields).filter(|r| (1..=end).contains(&r.count));
                if let Some(r) = &run
                    && end - r.count > o.position
                {
                    if !o.just_positioned {
                        // Entries in between were handed to a read whose reply
                        // was lost (a connection break): read them again.
                        tracing::debug!(partition = %p, expected = o.position, got = end - r.count, "gap in read; repositioning");
                        o.seek = Some(o.position);
                        break;
                    }
                    // Read right after positioning: the stream lacks them.
                    tracing::warn!(partition = %p, offsets = ?(o.position..end - r.count), "messages missing from the stream; going on after them");
                    o.position = end - r.count;
                }
                o.just_positioned = false;
                // Pending under this member until a commit passes it.
                o.unacked.push_back(end);
                let Some((first, messages)) =
                    run.and_then(|r| Some((end - r.count, r.messages()?)))
                else {
                    tracing::warn!(partition = %p, offsets = ?(o.position..end), "skipping a stream entry this backend did not write, or a corrupt one");
                    o.position = end;
                    continue;
                };
                entries_read += 1;
                messages_read += messages.len();
                let count = o.delivered_before.remove(&end).map_or(1, |c| c + 1);
                // Every message of a redelivered entry carries its count.
                let count_header = (count > 1).then(|| Bytes::from(count.to_string()));
                if count > 1 {
                    self.fixups.push((o.stream.clone(), end, count));
                }
                for (offset, entry) in (first..).zip(messages) {
                    if offset < o.position {
                        continue;
                    }
                    let mut payload = entry.payload;
                    if let Some(count) = &count_header {
                        payload.headers.insert(DELIVERY_COUNT_HEADER, count.clone());
                    }
                    o.buffer.push_back(BrokerValue::new(
                        payload,
                        p.clone(),
                        offset,
                        entry.timestamp,
                    ));
                }
                o.position = end;
            }
        }
        if entries_read > 0 {
            let per_entry = messages_read.div_ceil(entries_read).max(1);
            let max = self.config.max_poll_records().max(1);
            self.read_count = max.div_ceil(per_entry).clamp(1, max.min(MAX_READ_ENTRIES));
        }
    }

    /// Records where each partition read ends (for `lag`).
    fn note_ends(&mut self, read: &Read, ends: Vec<Option<u64>>) {
        for (key, end) in read.keys.iter().zip(ends) {
            let Some(o) = read.streams.get(key).and_then(|p| self.owned.get_mut(p)) else {
                continue;
            };
            o.end = Some(end.unwrap_or(0));
        }
    }

    /// Tells the server the delivery counts of redelivered entries.
    async fn apply_fixups(&mut self) -> Result<(), BrokerError> {
        if self.fixups.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (stream, end, count) in std::mem::take(&mut self.fixups) {
            pipe.cmd("XCLAIM")
                .arg(stream)
                .arg(self.group())
                .arg(&self.member)
                .arg(0)
                .arg(entry_id(end))
                .arg("RETRYCOUNT")
                .arg(count)
                .arg("JUSTID")
                .ignore();
        }
        self.control.pipe::<()>(&pipe).await
    }

    /// Up to `max_poll_records` buffered messages, partitions taking turns.
    fn take_buffered(&mut self) -> Option<Vec<BrokerValue<Payload>>> {
        let max = self.config.max_poll_records();
        let n = self.owned.len();
        if n == 0 {
            return None;
        }
        self.turn = (self.turn + 1) % n;
        let mut out = Vec::new();
        let order = (self.turn..n).chain(0..self.turn);
        let parts: Vec<Partition> = self.owned.keys().cloned().collect();
        for i in order {
            let Some(o) = self.owned.get_mut(&parts[i]) else {
                continue;
            };
            if o.paused || o.seek.is_some() {
                continue;
            }
            while out.len() < max {
                match o.buffer.pop_front() {
                    Some(m) => out.push(m),
                    None => break,
                }
            }
        }
        (!out.is_empty()).then_some(out)
    }

    fn buffered(&self) -> usize {
        self.owned.values().map(|o| o.buffer.len()).sum()
    }

    /// Pauses or resumes `partitions`, all or none (each must be owned).
    fn set_paused(&mut self, partitions: &[Partition], paused: bool) -> Result<(), BrokerError> {
        for p in partitions {
            self.owns(p)?;
        }
        for p in partitions {
            if let Some(o) = self.owned.get_mut(p) {
                o.paused = paused;
            }
        }
        Ok(())
    }

    fn owns(&self, p: &Partition) -> Result<(), BrokerError> {
        if self.owned.contains_key(p) && !self.revoking.contains(p) {
            Ok(())
        } else {
            Err(BrokerError::NotAssigned {
                partition: p.clone(),
            })
        }
    }

    async fn finish_read(&mut self) -> Result<(), BrokerError> {
        let Some(read) = self.inflight.as_mut() else {
            return Ok(());
        };
        let result = (&mut read.handle).await;
        let Some(read) = self.inflight.take() else {
            return Ok(());
        };
        match result {
            Ok(Ok((epoch, reply, lasts))) => {
                self.read_failures = 0;
                if epoch != self.epoch_seen {
                    self.maintain_now = true;
                }
                self.take_reply(&read.streams, reply);
                self.note_ends(&read, lasts);
                Ok(())
            }
            Ok(Err(e)) if e.is_transient() => Err(e),
            Ok(Err(e)) => {
                // A stream or group vanished (topic deleted, server restarted
                // empty): position again and let the heartbeat sort it out.
                self.read_failures += 1;
                tracing::debug!(error = %e, "read failed; repositioning");
                for p in read.streams.values() {
                    if let Some(o) = self.owned.get_mut(p) {
                        o.seek.get_or_insert(o.position);
                    }
                }
                self.maintain_now = true;
                if self.read_failures > 3 {
                    Err(e)
                } else {
                    Ok(())
                }
            }
            Err(join) => Err(BrokerError::backend("redis", join.to_string())),
        }
    }
}

/// One stream's entries in a read reply: its key and `(id, fields)` pairs.
type StreamEntries = (String, Vec<(Vec<u8>, Value)>);

/// `[[key, [[id, fields], ...]], ...]` (RESP2) or a map (RESP3) as pairs.
fn stream_entries(reply: Value) -> Vec<StreamEntries> {
    let streams: Vec<(Value, Value)> = match reply {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|s| match s {
                Value::Array(mut kv) if kv.len() == 2 => {
                    let entries = kv.pop()?;
                    let key = kv.pop()?;
                    Some((key, entries))
                }
                _ => None,
            })
            .collect(),
        Value::Map(pairs) => pairs,
        _ => Vec::new(),
    };
    streams
        .into_iter()
        .filter_map(|(key, entries)| {
            let key = match key {
                Value::BulkString(b) => String::from_utf8(b).ok()?,
                Value::SimpleString(s) => s,
                _ => return None,
            };
            let Value::Array(_) = entries else {
                return None;
            };
            let entries = stream_entries_of(entries);
            Some((key, entries))
        })
        .collect()
}

/// `[[id, fields], ...]` (an XRANGE-style entry list) as `(id, fields)` pairs.
fn stream_entries_of(entries: Value) -> Vec<(Vec<u8>, Value)> {
    let Value::Array(entries) = entries else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter_map(|e| match e {
            Value::Array(mut pair) if pair.len() == 2 => {
                let fields = pair.pop()?;
                match pair.pop()? {
                    Value::BulkString(id) => Some((id, fields)),
                    Value::SimpleString(id) => Some((id.into_bytes(), fields)),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect()
}

/// The most entries one read asks of a stream: bounds what a read holds
/// (entries of up to 256 KiB) when large entries follow small ones.
const MAX_READ_ENTRIES: usize = 128;

/// The most entries a commit acknowledges by naming each one; more (after a
/// long stretch without commits) are looked up in the pending list on the
/// server instead.
const ACK_BY_ID_UP_TO: usize = 100_000;

impl Consumer for RedisConsumer {
    async fn subscribe(&mut self, topics: &[Topic]) -> Result<(), BrokerError> {
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
        if !self.joined {
            return Err(BrokerError::NotSubscribed);
        }
        loop {
            // An earlier read (perhaps of a cancelled poll) is finished first,
            // so no read is in flight when leases are given up.
            self.finish_read().await?;
            self.apply_fixups().await?;
            if !self.revoking.is_empty() {
                let parts: Vec<Partition> = self.revoking.iter().cloned().collect();
                release(&self.shared, self.group(), &self.member, &parts, false).await?;
                for p in &parts {
                    self.owned.remove(p);
                }
                self.revoking.clear();
            }
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
        self.set_paused(partitions, true)
    }

    fn resume(&mut self, partitions: &[Partition]) -> Result<(), BrokerError> {
        self.set_paused(partitions, false)
    }

    fn paused(&self) -> BTreeSet<Partition> {
        self.owned
            .iter()
            .filter(|(p, o)| o.paused && !self.revoking.contains(*p))
            .map(|(p, _)| p.clone())
            .collect()
    }

    fn seek(&mut self, partition: &Partition, offset: u64) -> Result<(), BrokerError> {
        self.owns(partition)?;
        if let Some(o) = self.owned.get_mut(partition) {
            o.seek = Some(offset);
            o.position = offset;
            o.buffer.clear();
        }
        Ok(())
    }

    fn assignment(&self) -> BTreeSet<Partition> {
        let now = Instant::now();
        self.owned
            .iter()
            .filter(|(p, o)| o.valid_until > now && !self.revoking.contains(*p))
            .map(|(p, _)| p.clone())
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
        if offsets.is_empty() {
            return Ok(());
        }
        let mut keys = Vec::with_capacity(offsets.len() * 3);
        // Per partition: the offset, and the entries it lets go (`None`: look
        // them up on the server).
        let mut parts: Vec<(Partition, u64, Option<usize>)> = Vec::with_capacity(offsets.len());
        for (p, offset) in offsets.iter() {
            let Some(o) = self.owned.get(p) else {
                return Err(BrokerError::NotAssigned {
                    partition: p.clone(),
                });
            };
            keys.push(self.shared.keys.lease(self.group(), p));
            keys.push(self.shared.keys.offsets(&p.topic));
            keys.push(o.stream.clone());
            let passed = o.unacked.iter().take_while(|end| **end <= offset).count();
            // Beyond what this member read, pending entries it did not read
            // (reclaimed, not yet read again) may be passed too.
            let named = offset <= o.position && passed <= ACK_BY_ID_UP_TO;
            parts.push((p.clone(), offset, named.then_some(passed)));
        }
        let ttl = self.session().as_millis() as u64;
        let cmd = COMMIT.cmd(&keys, |c| {
            c.arg(self.group()).arg(&self.member).arg(ttl);
            let mut id = Vec::with_capacity(24);
            for (p, offset, passed) in &parts {
                c.arg(Keys::offset_field(self.group(), p.index))
                    .arg(*offset);
                let (Some(passed), Some(o)) = (passed, self.owned.get(p)) else {
                    c.arg(-1);
                    continue;
                };
                c.arg(*passed);
                for end in o.unacked.iter().take(*passed) {
                    id.clear();
                    write_entry_id(&mut id, *end);
                    c.arg(&id[..]);
                }
            }
        });
        let refused: usize = self.control.query(&cmd).await?;
        if refused > 0 {
            let partition = parts
                .get(refused - 1)
                .map(|(p, _, _)| p.clone())
                .ok_or_else(|| BrokerError::backend("redis", "bad commit reply"))?;
            return Err(BrokerError::NotAssigned { partition });
        }
        for (p, offset, _) in parts {
            if let Some(o) = self.owned.get_mut(&p) {
                while o.unacked.front().is_some_and(|end| *end <= offset) {
                    o.unacked.pop_front();
                }
            }
        }
        Ok(())
    }

    async fn committed(
        &mut self,
        partitions: &[Partition],
    ) -> Result<BTreeMap<Partition, Option<u64>>, BrokerError> {
        let mut pipe = redis::pipe();
        for p in partitions {
            pipe.cmd("HGET")
                .arg(self.shared.keys.offsets(&p.topic))
                .arg(Keys::offset_field(self.group(), p.index));
        }
        let values: Vec<Option<u64>> = self.control.pipe(&pipe).await?;
        Ok(partitions.iter().cloned().zip(values).collect())
    }

    async fn close(&mut self) -> Result<(), BrokerError> {
        if !self.joined {
            return Ok(());
        }
        if let Some(read) = self.inflight.take() {
            let _ = read.handle.await;
        }
        let parts: Vec<Partition> = self.owned.keys().cloned().collect();
        release(&self.shared, self.group(), &self.member, &parts, true).await?;
        self.joined = false;
        self.owned.clear();
        self.revoking.clear();
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
                let _ = read.handle.await;
            }
            let _ = release(&shared, &group, &member, &parts, true).await;
        });
    }
}
