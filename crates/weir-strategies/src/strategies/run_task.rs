//! RunTask: apply a function to each message, in the processor's task.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use weir_core::{BrokerValue, CommitRequest, Filterable, Message, Payload, RecordBatch};

use crate::strategies::task::{Borrowing, Task};
use crate::support::deferred::Deferred;
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
/// A function that only reads the payload is best made with
/// [`RunTask::borrowing`]: as the first step of a pipeline, it then reads
/// the messages a consumer lends (see
/// [`ProcessingStrategy::submit_batch`]) without a copy of each.
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
    /// A failure met while making room, for the next `poll` or `join`.
    failed: Deferred,
}

impl<F, N, U> RunTask<F, N, U> {
    /// Applies `function` and forwards to `next`.
    pub fn new<T>(function: F, next: N) -> Self
    where
        F: FnMut(T) -> Result<U, TaskError>,
    {
        RunTask::with_task(function, next)
    }

    /// Runs `function` (any [`Task`]) and forwards to `next`.
    fn with_task(function: F, next: N) -> Self {
        RunTask {
            function,
            next,
            outbox: Outbox::default(),
            progress: Progress::new(),
            closed: false,
            failed: Deferred::default(),
        }
    }
}

impl<F, N, U> RunTask<Borrowing<F>, N, U> {
    /// Applies `function` to a borrowed payload and forwards to `next`.
    ///
    /// ```
    /// use weir_core::Payload;
    /// use weir_strategies::{CommitOffsets, RunTask, TaskError};
    /// let step = RunTask::borrowing(
    ///     |p: &Payload| std::str::from_utf8(&p.value).map(str::len).map_err(|e| TaskError::invalid(e.to_string())),
    ///     CommitOffsets::new(),
    /// );
    /// # let _ = step;
    /// ```
    pub fn borrowing(function: F, next: N) -> Self
    where
        F: FnMut(&Payload) -> Result<U, TaskError>,
    {
        RunTask::with_task(Borrowing(function), next)
    }
}

impl<F, N, U> RunTask<F, N, U> {
    /// Whether results wait for the next step, or a failure for `poll`:
    /// then no message is taken.
    #[inline]
    fn is_full(&self) -> bool {
        !self.outbox.is_empty() || self.failed.is_waiting()
    }

    /// Forwards the waiting results before a message is taken; a failure
    /// met doing so waits for the next `poll` (see [`Deferred`]).
    #[cold]
    #[inline(never)]
    fn make_room(&mut self)
    where
        N: ProcessingStrategy<U>,
    {
        let RunTask {
            outbox,
            next,
            progress,
            failed,
            ..
        } = self;
        failed.make_room(progress, || outbox.flush(next));
    }

    /// Calls the function, turning a panic into a failure.
    #[inline]
    fn call<T>(&mut self, payload: T) -> Result<U, Failure>
    where
        F: Task<T, U>,
    {
        let function = &mut self.function;
        caught(|| function.call(payload))
    }

    /// Calls the function on a lent payload, turning a panic into a failure.
    #[inline]
    fn call_lent<T>(&mut self, payload: &Payload) -> Result<U, Failure>
    where
        F: Task<T, U>,
    {
        let function = &mut self.function;
        caught(|| function.call_lent(payload))
    }

    /// [`submit_batch`](ProcessingStrategy::submit_batch) for a borrowing
    /// function: `submit_all`'s loop over lent payloads.
    fn submit_lent<T>(&mut self, batch: &mut RecordBatch) -> Result<(), StrategyError>
    where
        F: Task<T, U>,
        N: ProcessingStrategy<U>,
    {
        let Some(mut out) = self.open_run(batch.len())? else {
            return Ok(());
        };
        let mut taken = 0;
        let mut failure = None;
        for m in batch.iter() {
            taken += 1;
            match self.call_lent(m.payload) {
                Ok(u) => out.push(Message::Broker(BrokerValue::new(
                    Filterable::Payload(u),
                    m.partition,
                    m.offset,
                    m.timestamp,
                ))),
                Err(f) => {
                    let at = Message::broker((), m.partition, m.offset, m.timestamp);
                    failure = Some(f.into_error(&at));
                    break;
                }
            }
        }
        batch.advance(taken);
        self.close_run(out, failure)
    }

    /// Starts taking a run of `len` messages: the buffer their results go
    /// in, once the results of earlier ones were taken (`None` before).
    #[inline(always)]
    fn open_run(&mut self, len: usize) -> Result<Option<Vec<Incoming<U>>>, StrategyError>
    where
        N: ProcessingStrategy<U>,
    {
        if self.closed {
            return Err(StrategyError::Closed);
        }
        // Nothing is taken yet: a failure can be returned at once.
        self.failed.report()?;
        self.outbox.flush(&mut self.next)?;
        let out = self.outbox.take_empty();
        Ok(out.map(|mut out| {
            out.reserve(len);
            out
        }))
    }

    /// Ends a run: its results go to the next step at once (those it is at
    /// capacity for wait in the outbox), or a failure the run stopped at is
    /// returned.
    #[inline(always)]
    fn close_run(
        &mut self,
        out: Vec<Incoming<U>>,
        failure: Option<StrategyError>,
    ) -> Result<(), StrategyError>
    where
        N: ProcessingStrategy<U>,
    {
        self.outbox.put(out);
        if let Some(e) = failure {
            // The results before the failure wait in the outbox: offered now,
            // a failure of theirs would hide this one.
            return Err(e);
        }
        self.outbox.flush(&mut self.next)
    }
}

/// The task's result, with a panic turned into a failure. (Inlined always:
/// as a call of its own, RunTask ran 15% slower.)
#[inline(always)]
fn caught<U>(task: impl FnOnce() -> Result<U, TaskError>) -> Result<U, Failure> {
    match catch_unwind(AssertUnwindSafe(task)) {
        Ok(Ok(u)) => Ok(u),
        Ok(Err(e)) => Err(Failure::Task(e)),
        Err(panic) => Err(Failure::panic(&*panic)),
    }
}

impl<T, U, F, N> ProcessingStrategy<T> for RunTask<F, N, U>
where
    F: Task<T, U>,
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
        if self.is_full() {
            self.make_room();
            if self.is_full() {
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

    /// Applies the function to every message of `queue` in one loop, then
    /// hands the results to the next step at once. Like `submit`, it takes
    /// messages only once the results of earlier ones were taken; those it
    /// takes wait in its outbox if the next step is at capacity.
    fn submit_all(&mut self, queue: &mut VecDeque<Incoming<T>>) -> Result<(), StrategyError> {
        let Some(mut out) = self.open_run(queue.len())? else {
            return Ok(());
        };
        let mut failure = None;
        while let Some(message) = queue.pop_front() {
            // The same mapping as `submit`'s, written out: shared through a
            // method, even an inlined one, RunTask ran 3-4% slower.
            let mapped = message.try_map(|payload| match payload {
                Filterable::Filtered => Ok(Filterable::Filtered),
                Filterable::Payload(t) => self.call(t).map(Filterable::Payload),
            });
            match mapped {
                Ok(m) => out.push(m),
                Err((at, f)) => {
                    failure = Some(f.into_error(&at));
                    break;
                }
            }
        }
        self.close_run(out, failure)
    }

    /// Takes lent messages if the function borrows its payloads (declines
    /// otherwise), in one loop as `submit_all` does.
    fn submit_batch(&mut self, batch: &mut RecordBatch) -> Option<Result<(), StrategyError>> {
        if !F::BORROWS {
            return None;
        }
        Some(self.submit_lent(batch))
    }

    fn poll(&mut self) -> Result<Option<CommitRequest>, StrategyError> {
        self.failed.report()?;
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
            self.failed.report()?;
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
    use crate::testing::{
        Collect, Judge, Verdict, broker_msg, filtered_msg, handed_back_then_reported, lent, part,
    };

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

    #[test]
    fn a_message_offered_while_an_earlier_result_fails_comes_back() {
        // The next step rejects each message once, then refuses it.
        let mut seen = None;
        let next = Judge::new(move |m: &Incoming<u32>| {
            let offset = m.position().map(|(_, o)| o);
            if std::mem::replace(&mut seen, offset) == offset {
                Verdict::Refuse("refused".into())
            } else {
                Verdict::Reject
            }
        });
        let mut s = RunTask::new(|x: u32| Ok(x), next);
        s.submit(broker_msg(0, 0, 0)).unwrap(); // its result waits
        let back = handed_back_then_reported(&mut s, broker_msg(0, 1, 1), 0);
        s.submit(back).unwrap();
    }

    fn queue(offsets: std::ops::Range<u64>) -> VecDeque<Incoming<u32>> {
        offsets.map(|o| broker_msg(0, o, o as u32)).collect()
    }

    #[test]
    fn submitting_all_maps_every_message_and_forwards_them_at_once() {
        let sink = Collect::new();
        let mut s = RunTask::new(|x: u32| Ok(x * 10), sink.clone());
        let mut q = queue(0..3);
        q.push_back(filtered_msg(0, 3));
        s.submit_all(&mut q).unwrap();
        assert!(q.is_empty());
        assert_eq!(sink.payloads(), vec![Some(0), Some(10), Some(20), None]);
        assert_eq!(s.poll().unwrap().unwrap().get(&part(0)), Some(4));
    }

    #[test]
    fn submitting_all_stops_at_an_invalid_message_and_keeps_the_finished_ones() {
        let sink = Collect::new();
        let mut s = RunTask::new(
            |x: u32| match x {
                2 => Err(TaskError::invalid("two")),
                x => Ok(x),
            },
            sink.clone(),
        );
        let mut q = queue(0..5);
        let Err(StrategyError::Invalid(i)) = s.submit_all(&mut q) else {
            panic!("expected an invalid message")
        };
        assert_eq!((i.offset, i.reason.as_str()), (Some(2), "two"));
        let left: Vec<u64> = q
            .iter()
            .filter_map(|m| m.position())
            .map(|(_, o)| o)
            .collect();
        assert_eq!(left, [3, 4], "the messages after the invalid one stay");
        // The results before it go on with the next call.
        s.submit_all(&mut q).unwrap();
        assert_eq!(sink.payloads(), vec![Some(0), Some(1), Some(3), Some(4)]);
    }

    #[test]
    fn submitting_all_takes_nothing_while_earlier_results_wait() {
        let sink = Collect::with_capacity(2);
        let mut s = RunTask::new(|x: u32| Ok(x), sink.clone());
        let mut q = queue(0..4);
        s.submit_all(&mut q).unwrap();
        assert!(q.is_empty(), "a batch is taken whole");
        assert_eq!(sink.payloads(), vec![Some(0), Some(1)]);
        let mut more = queue(4..6);
        s.submit_all(&mut more).unwrap();
        assert_eq!(
            more.len(),
            2,
            "results 2 and 3 still wait: nothing more is taken"
        );
        sink.drain();
        s.submit_all(&mut more).unwrap();
        assert!(more.is_empty(), "2 and 3 went on, so 4 and 5 were taken");
        assert_eq!(sink.payloads().len(), 4);
        sink.drain();
        s.poll().unwrap();
        let all: Vec<_> = (0..6).map(Some).collect();
        assert_eq!(sink.payloads(), all);
    }

    #[test]
    fn submitting_all_after_close_fails() {
        let mut s = RunTask::new(|x: u32| Ok(x), Collect::new());
        s.close();
        let mut q = queue(0..1);
        assert!(matches!(s.submit_all(&mut q), Err(StrategyError::Closed)));
        assert_eq!(q.len(), 1);
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

    fn length(p: &Payload) -> Result<usize, TaskError> {
        match &p.value[..] {
            b"bad" => Err(TaskError::invalid("bad")),
            b"boom" => panic!("boom"),
            v => Ok(v.len()),
        }
    }

    #[test]
    fn a_borrowing_task_takes_a_lent_batch_in_place() {
        let sink = Collect::new();
        let mut s = RunTask::borrowing(length, sink.clone());
        let mut batch = lent(1, 40, &["a", "bb", "ccc"]);
        ProcessingStrategy::<Payload>::submit_batch(&mut s, &mut batch)
            .expect("a borrowing task takes lent batches")
            .unwrap();
        assert!(batch.is_empty());
        assert_eq!(sink.payloads(), vec![Some(1), Some(2), Some(3)]);
        let offsets: Vec<_> = sink
            .messages()
            .iter()
            .filter_map(|m| m.position().map(|(p, o)| (p.index, o)))
            .collect();
        assert_eq!(offsets, [(1, 40), (1, 41), (1, 42)]);
        let commits = ProcessingStrategy::<Payload>::poll(&mut s)
            .unwrap()
            .unwrap();
        assert_eq!(commits.get(&part(1)), Some(43));
        // Owned messages go through the same function.
        s.submit(broker_msg(1, 43, Payload::new("dddd"))).unwrap();
        assert_eq!(sink.payloads().last(), Some(&Some(4)));
    }

    #[test]
    fn a_task_taking_payloads_owned_declines_a_lent_batch() {
        let mut s = RunTask::new(|p: Payload| Ok(p.value.len()), Collect::new());
        let mut batch = lent(0, 0, &["a"]);
        assert!(ProcessingStrategy::<Payload>::submit_batch(&mut s, &mut batch).is_none());
        assert_eq!(batch.len(), 1, "nothing is taken");
    }

    #[test]
    fn a_lent_batch_stops_at_an_invalid_message_which_it_takes() {
        let sink = Collect::new();
        let mut s = RunTask::borrowing(length, sink.clone());
        let mut batch = lent(0, 10, &["a", "bad", "cc"]);
        let Some(Err(StrategyError::Invalid(i))) =
            ProcessingStrategy::<Payload>::submit_batch(&mut s, &mut batch)
        else {
            panic!("expected an invalid message")
        };
        assert_eq!((i.offset, i.reason.as_str()), (Some(11), "bad"));
        assert_eq!(batch.first_offset(), 12, "the message after it stays");
        ProcessingStrategy::<Payload>::submit_batch(&mut s, &mut batch)
            .expect("taken")
            .unwrap();
        assert_eq!(sink.payloads(), vec![Some(1), Some(2)]);
    }

    #[test]
    fn a_panic_on_a_lent_message_names_its_position() {
        let mut s = RunTask::borrowing(length, Collect::new());
        let mut batch = lent(3, 7, &["boom"]);
        let Some(Err(e)) = ProcessingStrategy::<Payload>::submit_batch(&mut s, &mut batch) else {
            panic!("expected a failure")
        };
        assert_eq!(
            e.to_string(),
            "user code panicked on the message at t/3 offset 7: boom"
        );
    }

    #[test]
    fn a_lent_batch_waits_while_earlier_results_wait() {
        let sink = Collect::with_capacity(1);
        let mut s = RunTask::borrowing(length, sink.clone());
        let mut first = lent(0, 0, &["a", "b"]);
        ProcessingStrategy::<Payload>::submit_batch(&mut s, &mut first)
            .expect("taken")
            .unwrap();
        assert!(first.is_empty(), "a batch is taken whole");
        let mut second = lent(0, 2, &["c"]);
        ProcessingStrategy::<Payload>::submit_batch(&mut s, &mut second)
            .expect("taken")
            .unwrap();
        assert_eq!(
            second.len(),
            1,
            "result 1 still waits: nothing more is taken"
        );
        sink.drain();
        ProcessingStrategy::<Payload>::submit_batch(&mut s, &mut second)
            .expect("taken")
            .unwrap();
        assert!(second.is_empty());
    }

    #[test]
    fn a_closed_task_refuses_a_lent_batch() {
        let mut s = RunTask::borrowing(length, Collect::new());
        ProcessingStrategy::<Payload>::close(&mut s);
        let mut batch = lent(0, 0, &["a"]);
        let Some(Err(StrategyError::Closed)) =
            ProcessingStrategy::<Payload>::submit_batch(&mut s, &mut batch)
        else {
            panic!("expected the closed error")
        };
        assert_eq!(batch.len(), 1);
    }
}
