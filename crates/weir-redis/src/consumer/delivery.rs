//! Delivery: the entries a read brought, turned into messages.
//!
//! Each stream entry is a run of messages (`entry.rs`) whose id gives the
//! offset after its last one (`offsets.rs`). Filing a read checks that the
//! entries follow the partition's position without a gap (a gap means a
//! read's reply was lost: read again from the position), marks entries read
//! before with their delivery count (and tells the server that count), and
//! buffers the messages; `poll` then hands them out, partitions taking turns.

use std::collections::HashMap;

use bytes::Bytes;
use redis::Value;
use weir_core::{BrokerError, BrokerValue, Partition, Payload};

use super::RedisConsumer;
use crate::entry::{DELIVERY_COUNT_HEADER, Run};
use crate::offsets::{entry_end, entry_id};
use crate::reply::stream_entries;

/// The most entries one read asks of a stream: bounds what a read holds
/// (entries of up to 256 KiB) when large entries follow small ones.
const MAX_READ_ENTRIES: usize = 128;

impl RedisConsumer {
    /// Files the messages of a read reply into the partitions' buffers.
    pub(super) fn take_reply(&mut self, streams: &HashMap<String, Partition>, reply: Value) {
        let (mut entries_read, mut messages_read) = (0usize, 0usize);
        for (key, entries) in stream_entries(reply) {
            let Some(p) = streams.get(&key) else { continue };
            let Some(o) = self.owned.get_mut(p) else {
                continue;
            };
            if o.seek.is_some() || self.assignment.is_revoking(p) {
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

    /// Tells the server the delivery counts of redelivered entries.
    pub(super) async fn apply_fixups(&mut self) -> Result<(), BrokerError> {
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
    pub(super) fn take_buffered(&mut self) -> Option<Vec<BrokerValue<Payload>>> {
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
            if self.assignment.is_paused(&parts[i]) || o.seek.is_some() {
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

    /// How many messages wait in the buffers.
    pub(super) fn buffered(&self) -> usize {
        self.owned.values().map(|o| o.buffer.len()).sum()
    }
}
