//! One partition's log: dense offsets, optional retention.

use std::sync::Arc;
use std::time::SystemTime;

use weir_core::{BrokerValue, Partition, Payload, Record, RecordBatch};

use crate::arena::Arena;
use crate::chunked::{ChunkRun, ChunkedDeque, Runs};

/// How much of a partition's log is kept; the oldest messages go first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep at most this many messages per partition.
    pub max_messages: Option<usize>,
    /// Keep at most this many payload bytes per partition.
    pub max_bytes: Option<usize>,
}

impl Retention {
    /// Keep everything (the default).
    pub fn unbounded() -> Self {
        Retention::default()
    }

    /// Keep at most `n` messages per partition.
    pub fn messages(n: usize) -> Self {
        Retention {
            max_messages: Some(n),
            max_bytes: None,
        }
    }

    /// Keep at most `n` payload bytes per partition.
    pub fn bytes(n: usize) -> Self {
        Retention {
            max_messages: None,
            max_bytes: Some(n),
        }
    }
}

/// The stored messages of one partition. Offsets are dense: the entry at
/// index `i` has offset `base + i`.
#[derive(Debug, Default)]
pub(crate) struct PartitionLog {
    base: u64,
    /// The messages, their keys and values in the arena.
    entries: ChunkedDeque<Record>,
    bytes: usize,
    /// Holds the keys and values, so that reading them never allocates.
    arena: Arena,
}

impl PartitionLog {
    /// Appends a message stored at `timestamp` and returns its offset,
    /// dropping old ones past `retention`.
    pub(crate) fn append(
        &mut self,
        payload: Payload,
        timestamp: SystemTime,
        retention: Retention,
    ) -> u64 {
        let offset = self.end();
        self.bytes += payload.byte_size();
        let Payload {
            key,
            value,
            headers,
        } = payload;
        let payload = Payload {
            value: self.arena.store(value),
            key: key.map(|k| self.arena.store(k)),
            headers,
        };
        self.entries.push_back(Record { payload, timestamp });
        self.enforce(retention);
        offset
    }

    fn enforce(&mut self, retention: Retention) {
        // The newest message always stays, so a producer gets a readable offset.
        while self.entries.len() > 1
            && (retention
                .max_messages
                .is_some_and(|m| self.entries.len() > m)
                || retention.max_bytes.is_some_and(|b| self.bytes > b))
        {
            let size = self.entries.front().map_or(0, |r| r.payload.byte_size());
            // A record a consumer's batch still shares keeps its bytes.
            if self.entries.pop_front(|r| r.payload = Payload::default()) {
                self.bytes -= size;
                self.base += 1;
            }
        }
    }

    /// The oldest offset still stored (equals `end` when empty).
    pub(crate) fn start(&self) -> u64 {
        self.base
    }

    /// The offset the next appended message gets.
    pub(crate) fn end(&self) -> u64 {
        self.base + self.entries.len() as u64
    }

    /// Up to `max` messages from `from` (clamped to the oldest stored).
    pub(crate) fn read(&self, from: u64, max: usize) -> Read<'_> {
        let from = from.max(self.base);
        let len = self.entries.len();
        let skip = usize::try_from(from - self.base).map_or(len, |s| s.min(len));
        Read {
            first: from,
            runs: self.entries.runs(skip, max),
        }
    }
}

/// Messages read from a log: runs that each know their exact length, so a
/// reader can reserve room for a run at once rather than for each message.
#[derive(Debug)]
pub(crate) struct Read<'a> {
    /// The offset of the first message.
    pub(crate) first: u64,
    runs: Runs<'a, Record>,
}

impl<'a> Iterator for Read<'a> {
    type Item = Run<'a>;

    fn next(&mut self) -> Option<Run<'a>> {
        Some(Run {
            run: self.runs.next()?,
        })
    }
}

/// Consecutive messages read from a log, turned into messages by
/// [`messages`](Run::messages) or lent as a [`batch`](Run::batch). A
/// payload's clone shares the stored bytes and allocates nothing.
#[derive(Debug)]
pub(crate) struct Run<'a> {
    run: ChunkRun<'a, Record>,
}

impl<'a> Run<'a> {
    /// How many messages the run holds.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.run.entries().len()
    }

    /// The run as messages of `partition`, the first at offset `first`.
    /// (The iterator's exact length lets a `Vec` extended with it write
    /// each message in place.)
    #[inline]
    pub(crate) fn messages(
        self,
        partition: &'a Partition,
        first: u64,
    ) -> impl ExactSizeIterator<Item = BrokerValue<Payload>> + 'a {
        let mut offset = first;
        self.run.entries().iter().map(move |e| {
            let message = BrokerValue {
                payload: e.payload.clone(),
                partition: partition.clone(),
                offset,
                timestamp: e.timestamp,
            };
            offset += 1;
            message
        })
    }

    /// The run as a record batch of `partition`, the first at offset
    /// `first`: sharing the log's chunk when it is full, a copy of the
    /// messages otherwise (the chunk still being filled is never shared).
    pub(crate) fn batch(self, partition: &Partition, first: u64) -> RecordBatch {
        let (records, range) = match self.run.shared() {
            Some(shared) => shared,
            None => {
                let copy = self.run.entries().to_vec();
                let n = copy.len();
                (Arc::new(copy), 0..n)
            }
        };
        RecordBatch::new(records, range, partition.clone(), first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_dense_and_retention_drops_oldest() {
        let mut log = PartitionLog::default();
        for i in 0..5u8 {
            assert_eq!(
                log.append(
                    Payload::new(vec![i]),
                    SystemTime::now(),
                    Retention::messages(3)
                ),
                u64::from(i)
            );
        }
        assert_eq!((log.start(), log.end()), (2, 5));
        let read = log.read(0, 10);
        assert_eq!(
            read.first, 2,
            "reading below the retained range starts at the oldest"
        );
        let p = Partition::new("t", 0);
        assert_eq!(
            read.flat_map(|run| run.messages(&p, 0))
                .map(|m| m.payload.value[0])
                .collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
    }

    #[test]
    fn messages_read_back_whole() {
        let mut log = PartitionLog::default();
        let t = SystemTime::UNIX_EPOCH;
        let stored = [
            Payload::new("plain"),
            Payload::new(vec![7u8; 10_000]).with_key("big-value"),
            Payload::new("")
                .with_key("empty-value")
                .with_header("h", "v"),
        ];
        for p in &stored {
            log.append(p.clone(), t, Retention::unbounded());
        }
        let p = Partition::new("t", 0);
        let read: Vec<(Payload, SystemTime)> = log
            .read(0, 10)
            .flat_map(|run| run.messages(&p, 0))
            .map(|m| (m.payload, m.timestamp))
            .collect();
        assert_eq!(read, stored.map(|p| (p, t)));
    }

    #[test]
    fn lent_batches_stay_whole_while_retention_drops_their_messages() {
        use crate::chunked::CHUNK;
        let mut log = PartitionLog::default();
        let t = SystemTime::UNIX_EPOCH;
        let keep = Retention::messages(CHUNK + 10);
        let n = CHUNK + 5;
        for i in 0..n {
            log.append(Payload::new(format!("v{i}")), t, keep);
        }
        let p = Partition::new("t", 0);
        let read = log.read(0, n);
        let first = read.first;
        let mut next = first;
        let batches: Vec<RecordBatch> = read
            .map(|run| {
                let len = run.len() as u64;
                let b = run.batch(&p, next);
                next += len;
                b
            })
            .collect();
        assert_eq!(
            batches.len(),
            2,
            "the full chunk, then the one being filled"
        );
        assert_eq!(
            (
                batches[0].len(),
                batches[1].first_offset(),
                batches[1].len()
            ),
            (CHUNK, CHUNK as u64, 5)
        );
        // Retention now drops the whole first chunk, which the batch shares.
        for i in n..n + 200 {
            log.append(Payload::new(format!("v{i}")), t, Retention::messages(100));
        }
        assert!(
            log.start() > CHUNK as u64,
            "the lent messages are out of the log"
        );
        for b in &batches {
            for m in b.iter() {
                assert_eq!(m.payload.value, format!("v{}", m.offset).as_bytes());
            }
        }
        // Once the batches are gone, the log goes on as before.
        drop(batches);
        log.append(Payload::new("last"), t, Retention::messages(1));
        assert_eq!(log.bytes, 4, "only the last message is kept");
        let kept: Vec<_> = log.read(0, 10).flat_map(|r| r.messages(&p, 0)).collect();
        assert_eq!(kept.len(), 1);
        assert_eq!(&kept[0].payload.value[..], b"last");
    }
}
