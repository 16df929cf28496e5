//! CommitOffsets: the last step, which turns finished messages into commits.

use std::time::Duration;

use weir_core::{CommitRequest, Partition};

use crate::{Incoming, JoinFuture, ProcessingStrategy, Progress, StrategyError, SubmitError};

/// The usual last step of a pipeline: every message it receives is done, so
/// its positions are returned from the next [`poll`](ProcessingStrategy::poll)
/// for the processor to commit (when its
/// [`CommitPolicy`](crate::CommitPolicy) says so).
///
/// ```
/// use std::time::SystemTime;
/// use weir_core::{Filterable, Message, Partition};
/// use weir_strategies::{CommitOffsets, ProcessingStrategy};
/// let p = Partition::new("events", 0);
/// let mut last = CommitOffsets::new();
/// ProcessingStrategy::<u8>::submit(&mut last, Message::broker(Filterable::Payload(1), p.clone(), 4, SystemTime::now())).unwrap();
/// let commits = ProcessingStrategy::<u8>::poll(&mut last).unwrap().unwrap();
/// assert_eq!(commits.get(&p), Some(5));
/// ```
#[derive(Debug, Default)]
pub struct CommitOffsets {
    /// Per partition, the highest position seen since the last poll. A
    /// pipeline serves few partitions: a short list beats a map here.
    pending: Vec<(Partition, u64)>,
    /// Where the last message's partition sits in `pending`.
    last: usize,
}

impl CommitOffsets {
    /// A last step.
    pub fn new() -> Self {
        CommitOffsets::default()
    }

    fn take(&mut self) -> Option<CommitRequest> {
        if self.pending.is_empty() {
            None
        } else {
            self.last = 0;
            Some(self.pending.drain(..).collect())
        }
    }

    fn record(&mut self, partition: &Partition, position: u64) {
        let slot = match self.pending.get(self.last) {
            Some((p, _)) if same(p, partition) => Some(self.last),
            _ => self.pending.iter().position(|(p, _)| same(p, partition)),
        };
        match slot {
            Some(i) => {
                self.last = i;
                let current = &mut self.pending[i].1;
                *current = (*current).max(position);
            }
            None => {
                self.last = self.pending.len();
                self.pending.push((partition.clone(), position));
            }
        }
    }
}

impl<T: Send> ProcessingStrategy<T> for CommitOffsets {
    fn attach(&mut self, _progress: &Progress) {}

    fn submit(&mut self, message: Incoming<T>) -> Result<(), SubmitError<T>> {
        for (p, o) in message.committable() {
            self.record(p, o);
        }
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<CommitRequest>, StrategyError> {
        Ok(self.take())
    }

    fn close(&mut self) {}

    fn terminate(&mut self) {
        self.pending.clear();
    }

    fn join(&mut self, _timeout: Option<Duration>) -> JoinFuture<'_> {
        let out = self.take();
        Box::pin(async move { Ok(out) })
    }
}

/// Partition equality with a fast path for the usual case of one shared
/// topic name.
fn same(a: &Partition, b: &Partition) -> bool {
    a.index == b.index && (std::ptr::eq(a.topic.as_str(), b.topic.as_str()) || a.topic == b.topic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{broker_msg, filtered_msg, part};

    #[test]
    fn keeps_the_highest_position_per_partition() {
        let mut c = CommitOffsets::new();
        let s: &mut dyn ProcessingStrategy<u8> = &mut c;
        s.submit(broker_msg(0, 3, 0)).unwrap();
        s.submit(broker_msg(1, 8, 0)).unwrap();
        s.submit(filtered_msg(0, 4)).unwrap();
        let req = s.poll().unwrap().unwrap();
        assert_eq!((req.get(&part(0)), req.get(&part(1))), (Some(5), Some(9)));
        assert_eq!(s.poll().unwrap(), None);
    }
}
