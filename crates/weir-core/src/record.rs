//! Record batches: messages a consumer lends out of its broker's storage
//! instead of copying them out one by one.

use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

use crate::{BrokerValue, Partition, Payload};

/// One stored message, without its place: what a broker's log keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// What the message carries.
    pub payload: Payload,
    /// When the broker stored it.
    pub timestamp: SystemTime,
}

/// Consecutive messages of one partition, shared with the broker's storage.
///
/// A consumer that copies a message out of its log takes a share of its
/// bytes: one atomic reference count when read, one more when dropped. A
/// record batch takes one share for up to thousands of messages; a step
/// that only reads payloads borrows them from it (see
/// [`Consumer::poll_batches`](crate::Consumer::poll_batches)) and the
/// per-message counting is gone.
///
/// Messages are taken from the front with [`advance`](Self::advance);
/// [`first_offset`](Self::first_offset) is always the offset of the first
/// one still in the batch.
///
/// ```
/// use std::sync::Arc;
/// use std::time::SystemTime;
/// use weir_core::{Partition, Payload, Record, RecordBatch};
///
/// let stored: Vec<Record> = ["a", "b", "c"]
///     .map(|v| Record { payload: Payload::new(v), timestamp: SystemTime::UNIX_EPOCH })
///     .into();
/// let mut batch = RecordBatch::new(Arc::new(stored), 1..3, Partition::new("events", 0), 41);
/// assert_eq!(batch.first().map(|m| (&m.payload.value[..], m.offset)), Some((&b"b"[..], 41)));
/// batch.advance(1);
/// assert_eq!((batch.len(), batch.first_offset(), batch.next_offset()), (1, 42, 43));
/// ```
#[derive(Clone, Debug)]
pub struct RecordBatch {
    records: Arc<Vec<Record>>,
    /// The part of `records` still in the batch.
    range: Range<usize>,
    partition: Partition,
    /// The offset of `records[range.start]`.
    offset: u64,
}

impl RecordBatch {
    /// The messages `records[range]` of `partition`, the first at offset
    /// `first_offset` and the others following densely. A range reaching
    /// past `records` is cut at its end.
    pub fn new(
        records: Arc<Vec<Record>>,
        range: Range<usize>,
        partition: Partition,
        first_offset: u64,
    ) -> Self {
        let end = range.end.min(records.len());
        let start = range.start.min(end);
        RecordBatch {
            records,
            range: start..end,
            partition,
            offset: first_offset,
        }
    }

    /// The partition the messages were read from.
    pub fn partition(&self) -> &Partition {
        &self.partition
    }

    /// How many messages are left.
    pub fn len(&self) -> usize {
        self.range.len()
    }

    /// Whether none are left.
    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }

    /// The offset of the first message left.
    pub fn first_offset(&self) -> u64 {
        self.offset
    }

    /// The offset after the last message: what a consumer commits once the
    /// whole batch is done.
    pub fn next_offset(&self) -> u64 {
        self.offset + self.range.len() as u64
    }

    /// The first message left, lent.
    pub fn first(&self) -> Option<BrokerValue<&Payload>> {
        self.iter().next()
    }

    /// The messages left, lent, in offset order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = BrokerValue<&Payload>> + '_ {
        self.records[self.range.clone()]
            .iter()
            .enumerate()
            .map(|(i, r)| self.lend(r, self.offset + i as u64))
    }

    /// Takes the first `n` messages off (all of them if fewer are left).
    pub fn advance(&mut self, n: usize) {
        let n = n.min(self.range.len());
        self.range.start += n;
        self.offset += n as u64;
    }

    /// The messages left, as owned messages (their bytes are shared, not copied).
    pub fn to_messages(&self) -> Vec<BrokerValue<Payload>> {
        self.iter()
            .map(|m| BrokerValue::new(m.payload.clone(), m.partition, m.offset, m.timestamp))
            .collect()
    }

    #[inline]
    fn lend<'a>(&self, record: &'a Record, offset: u64) -> BrokerValue<&'a Payload> {
        BrokerValue::new(
            &record.payload,
            self.partition.clone(),
            offset,
            record.timestamp,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: u8) -> Arc<Vec<Record>> {
        Arc::new(
            (0..n)
                .map(|i| Record {
                    payload: Payload::new(vec![i]),
                    timestamp: SystemTime::UNIX_EPOCH,
                })
                .collect(),
        )
    }

    fn values(batch: &RecordBatch) -> Vec<(u8, u64)> {
        batch
            .iter()
            .map(|m| (m.payload.value[0], m.offset))
            .collect()
    }

    #[test]
    fn lends_its_range_with_dense_offsets() {
        let batch = RecordBatch::new(records(5), 1..4, Partition::new("t", 2), 100);
        assert_eq!(values(&batch), [(1, 100), (2, 101), (3, 102)]);
        assert_eq!(batch.next_offset(), 103);
        assert!(batch.iter().all(|m| m.partition == Partition::new("t", 2)));
    }

    #[test]
    fn advancing_takes_from_the_front_and_stops_at_the_end() {
        let mut batch = RecordBatch::new(records(5), 0..5, Partition::new("t", 0), 10);
        batch.advance(2);
        assert_eq!(values(&batch), [(2, 12), (3, 13), (4, 14)]);
        batch.advance(9);
        assert!(batch.is_empty());
        assert_eq!((batch.first_offset(), batch.next_offset()), (15, 15));
        assert!(batch.first().is_none());
    }

    #[test]
    fn a_range_past_the_records_is_cut() {
        let batch = RecordBatch::new(records(3), 2..9, Partition::new("t", 0), 0);
        assert_eq!(values(&batch), [(2, 0)]);
        let empty = RecordBatch::new(records(3), 7..9, Partition::new("t", 0), 0);
        assert!(empty.is_empty());
    }

    #[test]
    fn owned_copies_share_the_stored_bytes() {
        let stored = records(2);
        let batch = RecordBatch::new(Arc::clone(&stored), 0..2, Partition::new("t", 0), 5);
        let owned = batch.to_messages();
        assert_eq!(owned[1].offset, 6);
        assert_eq!(
            owned[1].payload.value.as_ptr(),
            stored[1].payload.value.as_ptr()
        );
    }
}
