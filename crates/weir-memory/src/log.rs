//! One partition's log: dense offsets, optional retention.

use std::collections::VecDeque;
use std::time::SystemTime;

use weir_core::Payload;

use crate::arena::Arena;

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

#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) payload: Payload,
    pub(crate) timestamp: SystemTime,
}

/// The stored messages of one partition. Offsets are dense: the entry at
/// index `i` has offset `base + i`.
#[derive(Debug, Default)]
pub(crate) struct PartitionLog {
    base: u64,
    entries: VecDeque<Entry>,
    bytes: usize,
    /// Holds the keys and values, so that reading them never allocates.
    arena: Arena,
}

impl PartitionLog {
    /// Appends a message stored at `timestamp` and returns its offset,
    /// dropping old ones past `retention`.
    pub(crate) fn append(
        &mut self,
        mut payload: Payload,
        timestamp: SystemTime,
        retention: Retention,
    ) -> u64 {
        let offset = self.end();
        self.bytes += payload.byte_size();
        payload.value = self.arena.store(std::mem::take(&mut payload.value));
        payload.key = payload.key.map(|k| self.arena.store(k));
        self.entries.push_back(Entry { payload, timestamp });
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
            if let Some(old) = self.entries.pop_front() {
                self.bytes -= old.payload.byte_size();
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

    /// Up to `max` entries from `from` (clamped to the oldest stored), with
    /// the offset of the first. The iterator knows its exact length, so a
    /// reader can copy the entries out without checking capacity for each.
    pub(crate) fn read(
        &self,
        from: u64,
        max: usize,
    ) -> (u64, std::collections::vec_deque::Iter<'_, Entry>) {
        let from = from.max(self.base);
        let len = self.entries.len();
        let skip = usize::try_from(from - self.base).map_or(len, |s| s.min(len));
        (from, self.entries.range(skip..skip + max.min(len - skip)))
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
        let (first, it) = log.read(0, 10);
        assert_eq!(
            first, 2,
            "reading below the retained range starts at the oldest"
        );
        assert_eq!(
            it.map(|e| e.payload.value[0]).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
    }

    #[test]
    fn byte_retention_keeps_within_limit() {
        let mut log = PartitionLog::default();
        for _ in 0..10 {
            log.append(
                Payload::new(vec![0u8; 100]),
                SystemTime::now(),
                Retention::bytes(250),
            );
        }
        assert_eq!(log.end() - log.start(), 2);
    }
}
