//! Filter: drop payloads a predicate refuses, keep their commit positions.

use std::time::Duration;

use weir_core::{CommitRequest, Filterable};

use crate::{Incoming, JoinFuture, ProcessingStrategy, Progress, StrategyError, SubmitError};

/// Replaces the payloads `predicate` refuses with a filtered marker.
///
/// The marker still travels to the next step with its commit positions, so a
/// filtered message is committed in order with the others and filtering
/// never stalls commits.
///
/// ```
/// use weir_core::Payload;
/// use weir_strategies::{CommitOffsets, Filter};
/// let step = Filter::new(|p: &Payload| !p.value.is_empty(), CommitOffsets::new());
/// # let _ = step;
/// ```
pub struct Filter<F, N> {
    predicate: F,
    next: N,
}

impl<F, N> Filter<F, N> {
    /// Keeps payloads for which `predicate` holds.
    pub fn new<T>(predicate: F, next: N) -> Self
    where
        F: FnMut(&T) -> bool,
    {
        Filter { predicate, next }
    }
}

impl<T, F, N> ProcessingStrategy<T> for Filter<F, N>
where
    F: FnMut(&T) -> bool + Send,
    N: ProcessingStrategy<T>,
{
    fn attach(&mut self, progress: &Progress) {
        self.next.attach(progress);
    }

    fn submit(&mut self, message: Incoming<T>) -> Result<(), SubmitError<T>> {
        let keep = match message.payload() {
            Filterable::Payload(p) => (self.predicate)(p),
            Filterable::Filtered => true,
        };
        if keep {
            self.next.submit(message)
        } else {
            self.next.submit(message.into_filtered())
        }
    }

    fn poll(&mut self) -> Result<Option<CommitRequest>, StrategyError> {
        self.next.poll()
    }

    fn close(&mut self) {
        self.next.close();
    }

    fn terminate(&mut self) {
        self.next.terminate();
    }

    fn join(&mut self, timeout: Option<Duration>) -> JoinFuture<'_> {
        self.next.join(timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Collect, broker_msg, part};

    #[test]
    fn filtered_messages_still_advance_commits() {
        let sink = Collect::new();
        let mut f = Filter::new(|x: &u32| x.is_multiple_of(2), sink.clone());
        for (o, x) in [(0, 2), (1, 3), (2, 5)] {
            f.submit(broker_msg(0, o, x)).unwrap();
        }
        assert_eq!(sink.payloads(), vec![Some(2), None, None]);
        assert_eq!(f.poll().unwrap().unwrap().get(&part(0)), Some(3));
    }
}
