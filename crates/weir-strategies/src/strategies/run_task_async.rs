//! RunTaskAsync: run an async function per message, a few at a time.

use std::future::Future;

use crate::strategy::split;
use crate::support::ordered::{Ordered, run_user_task, spawn_work};
use crate::support::stage::Stage;
use crate::{Incoming, ProcessingStrategy, SubmitError, TaskError};

/// Runs an async function on each payload as a tokio task, at most
/// `concurrency` at once, and forwards the results in submission order.
///
/// When `concurrency` messages are unfinished, `submit` rejects (the
/// processor then waits for a task to finish). A task's
/// [`TaskError::Invalid`] goes to the dead-letter policy; a panic becomes
/// [`StrategyError::Panicked`](crate::StrategyError::Panicked) naming the message.
///
/// ```
/// use weir_core::Payload;
/// use weir_strategies::{CommitOffsets, RunTaskAsync, TaskError};
/// let step = RunTaskAsync::new(
///     |p: Payload| async move { Ok::<_, TaskError>(p.value.len()) },
///     16,
///     CommitOffsets::new(),
/// );
/// # let _ = step;
/// ```
pub struct RunTaskAsync<F, N, U> {
    function: F,
    concurrency: usize,
    stage: Stage<Ordered<U>, N>,
}

impl<F, N, U> RunTaskAsync<F, N, U> {
    /// Runs `function` with at most `concurrency` (at least 1) tasks at once.
    pub fn new<T, Fut>(function: F, concurrency: usize, next: N) -> Self
    where
        F: FnMut(T) -> Fut,
        Fut: Future<Output = Result<U, TaskError>> + Send + 'static,
    {
        RunTaskAsync {
            function,
            concurrency: concurrency.max(1),
            stage: Stage::new(next),
        }
    }
}

impl<T, U, F, Fut, N> ProcessingStrategy<T> for RunTaskAsync<F, N, U>
where
    F: FnMut(T) -> Fut + Send,
    Fut: Future<Output = Result<U, TaskError>> + Send + 'static,
    N: ProcessingStrategy<U>,
    U: Send + 'static,
{
    delegate_to_stage!(attach, poll, close, terminate, join);

    fn submit(&mut self, message: Incoming<T>) -> Result<(), SubmitError<T>> {
        if !self.stage.has_room(self.concurrency)? {
            return Err(SubmitError::Rejected(message));
        }
        match split(message) {
            Err(filtered) => self.stage.work.push_ready(filtered.into_filtered()),
            Ok((meta, payload)) => {
                let task = run_user_task((self.function)(payload));
                let (rx, abort) = spawn_work(&self.stage.progress, task);
                self.stage.work.push_running(meta, rx, Some(abort));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Progress;
    use crate::testing::{Collect, broker_msg, filtered_msg, handed_back_then_reported, part};
    use std::time::Duration;

    async fn sleepy(ms: u64, v: u32) -> Result<u32, TaskError> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(v)
    }

    #[tokio::test(start_paused = true)]
    async fn results_are_forwarded_in_order_and_concurrency_is_bounded() {
        let sink = Collect::new();
        let progress = Progress::new();
        // The first message takes longest: later ones wait for it.
        let mut s = RunTaskAsync::new(|v: u32| sleepy(u64::from(100 - v * 10), v), 3, sink.clone());
        s.attach(&progress);
        for i in 0..3 {
            s.submit(broker_msg(0, u64::from(i), i)).unwrap();
        }
        assert!(matches!(
            s.submit(broker_msg(0, 3, 3)),
            Err(SubmitError::Rejected(_))
        ));
        tokio::time::sleep(Duration::from_millis(85)).await;
        assert_eq!(s.poll().unwrap(), None, "the first is still running");
        progress.notified().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let commits = s.poll().unwrap().unwrap();
        assert_eq!(commits.get(&part(0)), Some(3));
        assert_eq!(sink.payloads(), vec![Some(0), Some(1), Some(2)]);
    }

    #[tokio::test(start_paused = true)]
    async fn filtered_messages_keep_their_place() {
        let sink = Collect::new();
        let mut s = RunTaskAsync::new(|v: u32| sleepy(50, v), 4, sink.clone());
        s.submit(broker_msg(0, 0, 7)).unwrap();
        s.submit(filtered_msg(0, 1)).unwrap();
        s.poll().unwrap();
        assert!(
            sink.payloads().is_empty(),
            "the filtered one waits behind the running one"
        );
        s.close();
        let commits = s.join(None).await.unwrap().unwrap();
        assert_eq!(commits.get(&part(0)), Some(2));
        assert_eq!(sink.payloads(), vec![Some(7), None]);
    }

    #[tokio::test(start_paused = true)]
    async fn join_gives_up_at_the_timeout_and_commits_only_finished_work() {
        let sink = Collect::new();
        let mut s = RunTaskAsync::new(
            |v: u32| sleepy(if v == 1 { 10_000 } else { 10 }, v),
            4,
            sink.clone(),
        );
        s.attach(&Progress::new());
        for i in 0..3 {
            s.submit(broker_msg(0, u64::from(i), i)).unwrap();
        }
        s.close();
        let started = tokio::time::Instant::now();
        let commits = s.join(Some(Duration::from_secs(1))).await.unwrap().unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(1));
        assert_eq!(commits.get(&part(0)), Some(1), "offset 1 never finished");
        assert_eq!(sink.payloads(), vec![Some(0)]);
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_behind_a_panicked_task_is_ever_committed() {
        let sink = Collect::new();
        let progress = Progress::new();
        let mut s = RunTaskAsync::new(
            |v: u32| async move {
                if v == 1 {
                    panic!("task {v} broke");
                }
                Ok::<_, TaskError>(v)
            },
            4,
            sink.clone(),
        );
        s.attach(&progress);
        for i in 0..3 {
            s.submit(broker_msg(0, u64::from(i), i)).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(s.poll().is_err(), "the panic is reported");
        for _ in 0..3 {
            // As the processor does when it abandons the pipeline.
            if let Ok(Some(c)) = s.poll() {
                assert!(
                    c.get(&part(0)).unwrap_or(0) <= 1,
                    "committed past the failed message: {c:?}"
                );
            }
        }
        assert_eq!(
            sink.payloads(),
            vec![Some(0)],
            "only the work before it went on"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_offered_while_an_earlier_one_fails_comes_back() {
        let sink = Collect::new();
        let mut s = RunTaskAsync::new(
            |v: u32| async move {
                match v {
                    0 => Err(TaskError::invalid("zero")),
                    v => Ok(v),
                }
            },
            1,
            sink.clone(),
        );
        s.attach(&Progress::new());
        s.submit(broker_msg(0, 0, 0)).unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
        // Full: making room finds the first task's failure.
        let back = handed_back_then_reported(&mut s, broker_msg(0, 1, 1), 0);
        s.submit(back).unwrap();
        s.close();
        let commits = s.join(None).await.unwrap().unwrap();
        assert_eq!(commits.get(&part(0)), Some(2));
        assert_eq!(sink.payloads(), vec![Some(1)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_task_names_its_message() {
        let mut s = RunTaskAsync::new(
            |v: u32| async move {
                if v == 2 {
                    panic!("task {v} broke");
                }
                Ok::<_, TaskError>(v)
            },
            4,
            Collect::new(),
        );
        for i in 0..3 {
            s.submit(broker_msg(1, u64::from(i) + 40, i)).unwrap();
        }
        s.close();
        let err = s.join(None).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "user code panicked on the message at t/1 offset 42: task 2 broke"
        );
    }
}
