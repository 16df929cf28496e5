//! CommitOffsets: the last step, which turns finished messages into commits.

use std::collections::VecDeque;
use std::time::Duration;

use weir_core::{CommitRequest, RecordBatch};

use crate::support::positions::Positions;

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
    pending: Positions,
}

impl CommitOffsets {
    /// A last step.
    pub fn new() -> Self {
        CommitOffsets::default()
    }
}

impl<T: Send> ProcessingStrategy<T> for CommitOffsets {
    fn attach(&mut self, _progress: &Progress) {}

    #[inline]
    fn submit(&mut self, message: Incoming<T>) -> Result<(), SubmitError<T>> {
        self.pending.record_message(&message);
        Ok(())
    }

    #[inline]
    fn submit_all(&mut self, queue: &mut VecDeque<Incoming<T>>) -> Result<(), StrategyError> {
        for message in queue.drain(..) {
            self.pending.record_message(&message);
        }
        Ok(())
    }

    /// Takes the whole batch: only its end position is recorded.
    #[inline]
    fn submit_batch(&mut self, batch: &mut RecordBatch) -> Option<Result<(), StrategyError>> {
        if !batch.is_empty() {
            self.pending.record(batch.partition(), batch.next_offset());
            batch.advance(batch.len());
        }
        Some(Ok(()))
    }

    fn poll(&mut self) -> Result<Option<CommitRequest>, StrategyError> {
        Ok(self.pending.take_request())
    }

    fn close(&mut self) {}

    fn terminate(&mut self) {
        self.pending.clear();
    }

    fn join(&mut self, _timeout: Option<Duration>) -> JoinFuture<'_> {
        let out = self.pending.take_request();
        Box::pin(async move { Ok(out) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{broker_msg, filtered_msg, lent, part};

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

    #[test]
    fn submitting_all_keeps_the_highest_position_per_partition() {
        let mut c = CommitOffsets::new();
        let s: &mut dyn ProcessingStrategy<u8> = &mut c;
        let mut queue: VecDeque<_> =
            [broker_msg(0, 3, 0), broker_msg(1, 8, 0), filtered_msg(0, 4)].into();
        s.submit_all(&mut queue).unwrap();
        assert!(queue.is_empty());
        let req = s.poll().unwrap().unwrap();
        assert_eq!((req.get(&part(0)), req.get(&part(1))), (Some(5), Some(9)));
    }

    #[test]
    fn a_lent_batch_is_taken_whole_and_commits_its_end() {
        let mut c = CommitOffsets::new();
        let s: &mut dyn ProcessingStrategy<u8> = &mut c;
        let mut batch = lent(2, 100, &["a", "b", "c"]);
        s.submit_batch(&mut batch).expect("taken").unwrap();
        assert!(batch.is_empty());
        s.submit(broker_msg(2, 50, 0)).unwrap();
        let req = s.poll().unwrap().unwrap();
        assert_eq!(
            req.get(&part(2)),
            Some(103),
            "never back below the batch's end"
        );
    }
}
