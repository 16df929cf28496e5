//! RunTask: apply a function to each message, in the processor's task.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use weir_core::{CommitRequest, Filterable};

use crate::support::ordered::Failure;
use crate::support::outbox::{Outbox, deadline_after, join_next};
use crate::{
    Incoming, JoinFuture, ProcessingStrategy, Progress, StrategyError, SubmitError, TaskError,
};

/// Applies a synchronous function to each payload and forwards the result.
///
/// The function runs inside `submit`, so keep it quick (use
/// [`RunTaskAsync`](crate::RunTaskAsync) for I/O and
/// [`RunTaskBlocking`](crate::RunTaskBlocking) for heavy CPU work). It returns
/// [`TaskError::Invalid`] to send the message to the dead-letter policy; a
/// panic becomes [`StrategyError::Panicked`] naming the message's position.
/// Filtered messages pass by without calling it.
///
/// ```
/// use weir_core::Payload;
/// use weir_strategies::{CommitOffsets, RunTask, TaskError};
/// let step = RunTask::new(
///     |p: Payload| std::str::from_utf8(&p.value).map(str::len).map_err(|e| TaskError::invalid(e.to_string())),
///     CommitOffsets::new(),
/// );
/// # let _ = step;
/// ```
// Unlike the other steps with work of their own, RunTask keeps its next
// step, outbox and state as fields of its own rather than in a `Stage`
// (support/stage.rs): it is the hottest step, and this layout measured about
// 10% faster on the strategies benchmark. Its life follows the same rules,
// through the same outbox, drain and `join_next`.
pub struct RunTask<F, N, U> {
    function: F,
    next: N,
    outbox: Outbox<U>,
    progress: Progress,
    closed: bool,
}

impl<F, N, U> RunTask<F, N, U> {
    /// Applies `function` and forwards to `next`.
    pub fn new<T>(function: F, next: N) -> Self
    where
        F: FnMut(T) -> Result<U, TaskError>,
    {
        RunTask {
            function,
            next,
            outbox: Outbox::default(),
            progress: Progress::new(),
            closed: false,
        }
    }
}

impl<F, N, U> RunTask<F, N, U> {
    /// Calls the function, turning a panic into a failure.
    #[inline]
    fn call<T>(&mut self, payload: T) -> Result<U, Failure>
    where
        F: FnMut(T) -> Result<U, TaskError>,
    {
        let function = &mut self.function;
        match catch_unwind(AssertUnwindSafe(|| function(payload))) {
            Ok(Ok(u)) => Ok(u),
            Ok(Err(e)) => Err(Failure::Task(e)),
            Err(panic) => Err(Failure::panic(&*panic)),
        }
    }
}

impl<T, U, F, N> ProcessingStrategy<T> for RunTask<F, N, U>
where
    F: FnMut(T) -> Result<U, TaskError> + Send,
    N: ProcessingStrategy<U>,
    U: Send,
{
    fn attach(&mut self, progress: &Progress) {
        self.progress = progress.clone();
        self.next.attach(progress);
    }

    fn submit(&mut self, message: Incoming<T>) -> Result<(), SubmitError<T>> {
        if self.closed {
            return Err(StrategyError::Closed.into());
        }
        if !self.outbox.is_empty() {
            self.outbox.flush(&mut self.next)?;
            if !self.outbox.is_empty() {
                return Err(SubmitError::Rejected(message));
            }
        }
        let out = message
            .try_map(|payload| match payload {
                Filterable::Filtered => Ok(Filterable::Filtered),
                Filterable::Payload(t) => self.call(t).map(Filterable::Payload),
            })
            .map_err(|(at, failure)| failure.into_error(&at))?;
        self.outbox.send(&mut self.next, out)?;
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<CommitRequest>, StrategyError> {
        self.outbox.flush(&mut self.next)?;
        self.next.poll()
    }

    fn close(&mut self) {
        // The next step is closed in `join`, once this one forwarded its work.
        self.closed = true;
    }

    fn terminate(&mut self) {
        self.closed = true;
        self.outbox.clear();
        self.next.terminate();
    }

    fn join(&mut self, timeout: Option<Duration>) -> JoinFuture<'_> {
        Box::pin(async move {
            let deadline = deadline_after(timeout);
            let commits = self
                .outbox
                .drain(&mut self.next, &self.progress, deadline)
                .await?;
            join_next(&mut self.next, deadline, commits).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Collect, broker_msg, filtered_msg};

    #[test]
    fn maps_payloads_and_keeps_positions() {
        let sink = Collect::new();
        let mut s = RunTask::new(|x: u32| Ok(x * 2), sink.clone());
        s.submit(broker_msg(0, 5, 21)).unwrap();
        s.submit(filtered_msg(0, 6)).unwrap();
        assert_eq!(sink.payloads(), vec![Some(42), None]);
        assert_eq!(
            s.poll().unwrap().unwrap().get(&crate::testing::part(0)),
            Some(7)
        );
    }

    #[test]
    fn a_panic_names_partition_and_offset() {
        let mut s = RunTask::new(
            |_: u32| -> Result<u32, TaskError> { panic!("kaboom") },
            Collect::new(),
        );
        let Err(SubmitError::Failed(e)) = s.submit(broker_msg(2, 9, 0)) else {
            panic!("expected a failure")
        };
        assert_eq!(
            e.to_string(),
            "user code panicked on the message at t/2 offset 9: kaboom"
        );
    }

    #[test]
    fn invalid_results_are_reported_not_forwarded() {
        let sink = Collect::new();
        let mut s = RunTask::new(
            |_: u32| Err::<u32, _>(TaskError::invalid("odd")),
            sink.clone(),
        );
        let Err(SubmitError::Failed(StrategyError::Invalid(i))) = s.submit(broker_msg(0, 3, 0))
        else {
            panic!("expected an invalid message")
        };
        assert_eq!((i.offset, i.reason.as_str()), (Some(3), "odd"));
        assert!(sink.payloads().is_empty());
    }

    #[test]
    fn backpressure_from_next_hands_messages_back_and_retries() {
        let sink = Collect::with_capacity(1);
        let mut s = RunTask::new(|x: u32| Ok(x), sink.clone());
        s.submit(broker_msg(0, 0, 1)).unwrap();
        s.submit(broker_msg(0, 1, 2)).unwrap(); // held: the sink is full
        let Err(SubmitError::Rejected(back)) = s.submit(broker_msg(0, 2, 3)) else {
            panic!("expected a rejection")
        };
        assert_eq!(back.position().map(|(_, o)| o), Some(2));
        sink.drain();
        s.poll().unwrap();
        assert_eq!(sink.payloads(), vec![Some(1), Some(2)]);
    }

    #[tokio::test]
    async fn close_waits_for_join_to_close_the_next_step() {
        let sink = Collect::new();
        let mut s = RunTask::new(|x: u32| Ok(x), sink.clone());
        s.submit(broker_msg(0, 0, 1)).unwrap();
        s.close();
        assert!(
            !sink.was_closed(),
            "the next step may still receive our work"
        );
        assert!(matches!(
            s.submit(broker_msg(0, 1, 1)),
            Err(SubmitError::Failed(StrategyError::Closed))
        ));
        s.join(None).await.unwrap();
        assert!(sink.was_closed() && sink.was_joined());
        s.terminate();
        assert!(sink.was_terminated());
    }
}
