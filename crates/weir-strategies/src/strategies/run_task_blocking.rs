//! RunTaskBlocking: run CPU-bound or blocking work on a dedicated thread pool.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::strategy::split;
use crate::support::ordered::{Failure, Ordered};
use crate::support::progress::NotifyOnDrop;
use crate::support::stage::Stage;
use crate::{Incoming, ProcessingStrategy, StrategyError, SubmitError, TaskError};

type Job = Box<dyn FnOnce() + Send>;

/// Runs a blocking function on its own threads (not tokio's workers), with at
/// most `max_pending` messages unfinished, and forwards results in order.
///
/// Use it for CPU-heavy work (parsing, compression) or blocking client
/// libraries, so the processor's async loop stays responsive. The threads
/// stop when the strategy is dropped.
///
/// ```
/// use weir_core::Payload;
/// use weir_strategies::{CommitOffsets, RunTaskBlocking};
/// let step = RunTaskBlocking::new(|p: Payload| Ok(p.value.iter().map(|b| u64::from(*b)).sum::<u64>()), 2, CommitOffsets::new());
/// # let _ = step;
/// ```
pub struct RunTaskBlocking<F, N, U> {
    function: Arc<F>,
    pool: Pool,
    max_pending: usize,
    stage: Stage<Ordered<U>, N>,
}

struct Pool {
    jobs: Option<mpsc::Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    fn new(threads: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = (0..threads.max(1))
            .filter_map(|i| {
                let rx = Arc::clone(&rx);
                std::thread::Builder::new()
                    .name(format!("weir-blocking-{i}"))
                    .spawn(move || {
                        loop {
                            let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                            match job {
                                Ok(job) => job(),
                                Err(_) => break,
                            }
                        }
                    })
                    .map_err(
                        |e| tracing::error!(error = %e, "cannot start a blocking worker thread"),
                    )
                    .ok()
            })
            .collect();
        Pool {
            jobs: Some(tx),
            threads,
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the channel ends the threads once their current job is done;
        // they are not waited for, so a drop never blocks.
        self.jobs = None;
        self.threads.clear();
    }
}

impl<F, N, U> RunTaskBlocking<F, N, U> {
    /// Runs `function` on `threads` dedicated threads.
    pub fn new<T>(function: F, threads: usize, next: N) -> Self
    where
        F: Fn(T) -> Result<U, TaskError>,
    {
        let threads = threads.max(1);
        RunTaskBlocking {
            function: Arc::new(function),
            pool: Pool::new(threads),
            max_pending: threads * 2,
            stage: Stage::new(next),
        }
    }

    /// At most `n` messages unfinished before `submit` rejects (default: twice the threads).
    pub fn max_pending(mut self, n: usize) -> Self {
        self.max_pending = n.max(1);
        self
    }
}

impl<T, U, F, N> ProcessingStrategy<T> for RunTaskBlocking<F, N, U>
where
    T: Send + 'static,
    F: Fn(T) -> Result<U, TaskError> + Send + Sync + 'static,
    N: ProcessingStrategy<U>,
    U: Send + 'static,
{
    delegate_to_stage!(attach, poll, close, join);

    fn submit(&mut self, message: Incoming<T>) -> Result<(), SubmitError<T>> {
        if !self.stage.has_room(self.max_pending)? {
            return Err(SubmitError::Rejected(message));
        }
        let Some(jobs) = &self.pool.jobs else {
            return Err(StrategyError::Closed.into());
        };
        match split(message) {
            Err(filtered) => self.stage.work.push_ready(filtered.into_filtered()),
            Ok((meta, payload)) => {
                let (tx, rx) = oneshot::channel();
                let function = Arc::clone(&self.function);
                let guard = NotifyOnDrop(self.stage.progress.clone());
                let job: Job = Box::new(move || {
                    let outcome = match catch_unwind(AssertUnwindSafe(|| function(payload))) {
                        Ok(Ok(u)) => Ok(u),
                        Ok(Err(e)) => Err(Failure::Task(e)),
                        Err(panic) => Err(Failure::panic(&*panic)),
                    };
                    let _ = tx.send(outcome);
                    drop(guard);
                });
                if jobs.send(job).is_err() {
                    return Err(StrategyError::Closed.into());
                }
                self.stage.work.push_running(meta, rx, None);
            }
        }
        Ok(())
    }

    fn terminate(&mut self) {
        self.pool.jobs = None;
        self.stage.terminate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Progress;
    use crate::testing::{Collect, broker_msg, part};
    use std::time::Duration;

    #[tokio::test]
    async fn runs_off_the_runtime_and_forwards_in_order() {
        let sink = Collect::new();
        let mut s = RunTaskBlocking::new(
            |v: u64| {
                // The first message is the slowest: order must still hold.
                std::thread::sleep(Duration::from_millis(if v == 0 { 30 } else { 1 }));
                Ok(std::thread::current()
                    .name()
                    .map(|n| n.starts_with("weir-blocking"))
                    .unwrap_or(false))
            },
            3,
            sink.clone(),
        );
        s.attach(&Progress::new());
        for o in 0..5 {
            while let Err(SubmitError::Rejected(_)) = s.submit(broker_msg(0, o, o)) {
                tokio::task::yield_now().await;
                s.poll().unwrap();
            }
        }
        s.close();
        let commits = s.join(Some(Duration::from_secs(5))).await.unwrap().unwrap();
        assert_eq!(commits.get(&part(0)), Some(5));
        assert_eq!(sink.payloads(), vec![Some(true); 5]);
    }

    #[tokio::test]
    async fn pending_work_is_bounded() {
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let g = Arc::clone(&gate);
        let mut s = RunTaskBlocking::new(
            move |v: u64| {
                drop(g.lock());
                Ok(v)
            },
            1,
            Collect::new(),
        )
        .max_pending(2);
        s.submit(broker_msg(0, 0, 0)).unwrap();
        s.submit(broker_msg(0, 1, 1)).unwrap();
        assert!(matches!(
            s.submit(broker_msg(0, 2, 2)),
            Err(SubmitError::Rejected(_))
        ));
        drop(held);
        s.close();
        let commits = s.join(Some(Duration::from_secs(5))).await.unwrap().unwrap();
        assert_eq!(commits.get(&part(0)), Some(2));
    }

    #[tokio::test]
    async fn a_panic_on_the_pool_names_the_message() {
        let mut s = RunTaskBlocking::new(
            |v: u64| -> Result<u64, TaskError> { panic!("bad {v}") },
            1,
            Collect::new(),
        );
        s.submit(broker_msg(3, 8, 8)).unwrap();
        s.close();
        let err = s.join(Some(Duration::from_secs(5))).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "user code panicked on the message at t/3 offset 8: bad 8"
        );
    }
}
