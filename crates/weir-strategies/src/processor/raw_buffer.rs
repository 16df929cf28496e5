//! The raw messages not committed yet, kept so that an invalid message can
//! be dead-lettered with its original bytes.

use std::collections::{HashMap, VecDeque};

use weir_core::{BrokerValue, Partition, Payload};

use super::dlq::DeadLetter;
use crate::InvalidMessage;

/// Per partition, the messages read and not committed yet, in offset order.
/// Trimmed on every commit, cleared on every rebalance, and bounded per
/// partition (the oldest go first).
#[derive(Debug, Default)]
pub(crate) struct RawBuffer {
    partitions: HashMap<Partition, VecDeque<BrokerValue<Payload>>>,
    limit: usize,
}

impl RawBuffer {
    pub(crate) fn new(limit: usize) -> Self {
        RawBuffer {
            partitions: HashMap::new(),
            limit: limit.max(1),
        }
    }

    pub(crate) fn remember(&mut self, message: BrokerValue<&Payload>) {
        let q = match self.partitions.get_mut(&message.partition) {
            Some(q) => q,
            None => self
                .partitions
                .entry(message.partition.clone())
                .or_default(),
        };
        if q.back().is_some_and(|b| b.offset >= message.offset) {
            // Re-read after a seek: start over from here.
            q.clear();
        }
        if q.len() >= self.limit {
            q.pop_front();
        }
        q.push_back(BrokerValue::new(
            message.payload.clone(),
            message.partition,
            message.offset,
            message.timestamp,
        ));
    }

    /// Drops what lies before `next` (it is committed).
    pub(crate) fn committed(&mut self, partition: &Partition, next: u64) {
        if let Some(q) = self.partitions.get_mut(partition) {
            while q.front().is_some_and(|m| m.offset < next) {
                q.pop_front();
            }
        }
    }

    /// Forgets every partition (after a rebalance the tail is read again).
    pub(crate) fn clear(&mut self) {
        self.partitions.clear();
    }

    /// The records that dead-letter `invalid`: one per original message it
    /// was made from (an aggregate has many) that is still buffered, with
    /// its bytes and headers; one without bytes for each partition's run of
    /// originals no longer buffered (older than the buffer's bound); and,
    /// when its origin is unknown, one without bytes naming what is known.
    pub(crate) fn dead_letters(&self, invalid: &InvalidMessage) -> Vec<DeadLetter> {
        let mut out = Vec::new();
        for (partition, span) in invalid.origin.iter() {
            let q = self.partitions.get(partition);
            // Offsets from `kept` on are still buffered (or were never
            // delivered: offsets may have gaps).
            let kept = q
                .and_then(VecDeque::front)
                .map_or(span.end, |m| m.offset.clamp(span.start, span.end));
            if span.start < kept {
                out.push(DeadLetter::lost(partition.clone(), span.start..kept));
            }
            if let Some(q) = q {
                let first = q.partition_point(|m| m.offset < kept);
                out.extend(
                    q.range(first..)
                        .take_while(|m| m.offset < span.end)
                        .map(DeadLetter::original),
                );
            }
        }
        if out.is_empty() {
            out.push(DeadLetter::unknown(invalid));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::SystemTime;

    fn raw(offset: u64) -> BrokerValue<Payload> {
        BrokerValue::new(
            Payload::new(format!("m{offset}")),
            Partition::new("t", 0),
            offset,
            SystemTime::UNIX_EPOCH,
        )
    }

    fn letters(
        b: &RawBuffer,
        invalid: &InvalidMessage,
    ) -> Vec<(Option<std::ops::Range<u64>>, Option<String>)> {
        b.dead_letters(invalid)
            .into_iter()
            .map(|l| {
                let bytes = l
                    .original
                    .map(|p| String::from_utf8_lossy(&p.value).into_owned());
                (l.offsets, bytes)
            })
            .collect()
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn one_message_keeps_its_bytes_while_buffered_and_bounded() {
        let mut b = RawBuffer::new(3);
        for o in 10..14 {
            b.remember(raw(o).as_ref());
        }
        let p = Partition::new("t", 0);
        let at = |o| InvalidMessage::new(p.clone(), o, "bad");
        assert_eq!(
            letters(&b, &at(10)),
            vec![(Some(10..11), None)],
            "bounded: the oldest went"
        );
        assert_eq!(letters(&b, &at(12)), vec![(Some(12..13), some("m12"))]);
        b.committed(&p, 13);
        assert_eq!(letters(&b, &at(13)), vec![(Some(13..14), some("m13"))]);
    }

    #[test]
    fn an_aggregate_sends_each_original_and_names_the_ones_gone() {
        let mut b = RawBuffer::new(4);
        for o in [20, 21, 23, 24, 25] {
            b.remember(raw(o).as_ref());
        }
        let p = Partition::new("t", 0);
        let mut invalid = InvalidMessage::new(p.clone(), 25, "bad batch");
        invalid.origin = BTreeMap::from([(p.clone(), 18..25)]).into();
        assert_eq!(
            letters(&b, &invalid),
            vec![
                (Some(18..21), None),
                (Some(21..22), some("m21")),
                (Some(23..24), some("m23")),
                (Some(24..25), some("m24")),
            ],
            "20 was pushed out by the bound; 22 was never delivered"
        );
    }

    #[test]
    fn an_unknown_origin_still_makes_one_record() {
        let b = RawBuffer::new(4);
        let mut invalid = InvalidMessage::new(Partition::new("t", 1), 7, "bad");
        invalid.origin = weir_core::Origin::new();
        let l = b.dead_letters(&invalid);
        assert_eq!(l.len(), 1);
        assert_eq!(
            (l[0].offsets.clone(), l[0].original.is_none()),
            (Some(7..8), true)
        );
    }
}
