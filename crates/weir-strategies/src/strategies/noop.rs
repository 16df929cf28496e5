//! Noop: a last step that drops everything.

use std::time::Duration;

use weir_core::CommitRequest;

use crate::{Incoming, JoinFuture, ProcessingStrategy, Progress, StrategyError, SubmitError};

/// A last step that accepts and drops every message and commits nothing
/// (useful to measure a pipeline, or for a consumer that never commits).
#[derive(Clone, Copy, Debug, Default)]
pub struct Noop;

impl<T: Send> ProcessingStrategy<T> for Noop {
    fn attach(&mut self, _progress: &Progress) {}

    fn submit(&mut self, _message: Incoming<T>) -> Result<(), SubmitError<T>> {
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<CommitRequest>, StrategyError> {
        Ok(None)
    }

    fn close(&mut self) {}

    fn terminate(&mut self) {}

    fn join(&mut self, _timeout: Option<Duration>) -> JoinFuture<'_> {
        Box::pin(async { Ok(None) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::broker_msg;

    #[tokio::test]
    async fn accepts_everything_and_commits_nothing() {
        let mut n = Noop;
        let s: &mut dyn ProcessingStrategy<u8> = &mut n;
        for i in 0..10 {
            s.submit(broker_msg(0, i, 1)).unwrap();
        }
        assert_eq!(s.poll().unwrap(), None);
        assert_eq!(s.join(None).await.unwrap(), None);
    }
}
