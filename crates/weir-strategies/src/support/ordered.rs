//! Work running in the background whose results are forwarded in order.

use std::collections::VecDeque;

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use tokio::sync::oneshot;
use tokio::time::Instant;
use weir_core::{BrokerError, CommitRequest, Filterable, Message};

use crate::error::panic_message;
use crate::support::outbox::{Outbox, wait};
use crate::support::progress::NotifyOnDrop;
use crate::{Incoming, ProcessingStrategy, Progress, StrategyError, TaskError};

/// How background work failed.
#[derive(Debug)]
pub(crate) enum Failure {
    Task(TaskError),
    Panic(String),
    Produce(BrokerError),
}

impl Failure {
    pub(crate) fn panic(payload: &(dyn std::any::Any + Send)) -> Self {
        Failure::Panic(panic_message(payload))
    }

    pub(crate) fn into_error(self, meta: &Message<()>) -> StrategyError {
        failure_error(self, meta)
    }
}

/// The error a failure on the message `meta` becomes.
pub(crate) fn failure_error(failure: Failure, meta: &Message<()>) -> StrategyError {
    {
        let (partition, offset) = crate::error::position(meta);
        match failure {
            Failure::Task(e) => StrategyError::from_task(meta, e),
            Failure::Panic(message) => StrategyError::Panicked {
                partition,
                offset,
                message,
            },
            Failure::Produce(source) => StrategyError::Produce {
                partition,
                offset,
                source,
            },
        }
    }
}

pub(crate) type Outcome<U> = Result<U, Failure>;

/// Runs `work` as a tokio task that raises `progress` when it ends, also by
/// a panic or an abort; returns where its outcome arrives and how to abort
/// it. The shape every step with background tasks starts its work in.
pub(crate) fn spawn_work<U, W>(
    progress: &Progress,
    work: W,
) -> (oneshot::Receiver<Outcome<U>>, tokio::task::AbortHandle)
where
    U: Send + 'static,
    W: Future<Output = Outcome<U>> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let guard = NotifyOnDrop(progress.clone());
    // Combinators, not an `async` block: a block holding `work` and awaiting
    // it keeps two copies of its state, which doubles every task's size
    // (and makes tokio box a large one).
    let task = tokio::spawn(work.map(move |outcome| {
        let _ = tx.send(outcome);
        drop(guard);
    }));
    (rx, task.abort_handle())
}

/// Awaits a user task, turning its error into [`Failure::Task`] and a panic
/// into [`Failure::Panic`]. (A combinator, as in [`spawn_work`].)
pub(crate) fn run_user_task<U, F>(task: F) -> impl Future<Output = Outcome<U>>
where
    F: Future<Output = Result<U, TaskError>>,
{
    AssertUnwindSafe(task)
        .catch_unwind()
        .map(|caught| match caught {
            Ok(Ok(u)) => Ok(u),
            Ok(Err(e)) => Err(Failure::Task(e)),
            Err(panic) => Err(Failure::panic(&*panic)),
        })
}

enum Slot<U> {
    Ready(Incoming<U>),
    Running {
        meta: Message<()>,
        result: oneshot::Receiver<Outcome<U>>,
        abort: Option<tokio::task::AbortHandle>,
    },
}

/// Slots in submission order; results leave from the front only.
pub(crate) struct Ordered<U> {
    slots: VecDeque<Slot<U>>,
    outbox: Outbox<U>,
}

impl<U> Default for Ordered<U> {
    fn default() -> Self {
        Ordered {
            slots: VecDeque::new(),
            outbox: Outbox::default(),
        }
    }
}

impl<U> Ordered<U> {
    /// Messages not yet forwarded (running, finished, or waiting for `next`).
    pub(crate) fn len(&self) -> usize {
        self.slots.len() + self.outbox.len()
    }

    /// A message that needs no work (a filtered one).
    pub(crate) fn push_ready(&mut self, message: Incoming<U>) {
        self.slots.push_back(Slot::Ready(message));
    }

    /// Work whose result arrives on `result` (`abort` cancels it if it is abandoned).
    pub(crate) fn push_running(
        &mut self,
        meta: Message<()>,
        result: oneshot::Receiver<Outcome<U>>,
        abort: Option<tokio::task::AbortHandle>,
    ) {
        self.slots.push_back(Slot::Running {
            meta,
            result,
            abort,
        });
    }

    /// Forwards finished results from the front, in order, until one is
    /// still running or `next` rejects.
    pub(crate) fn advance<N: ProcessingStrategy<U> + ?Sized>(
        &mut self,
        next: &mut N,
    ) -> Result<(), StrategyError> {
        self.outbox.flush(next)?;
        while self.outbox.is_empty() {
            let Some(front) = self.slots.front_mut() else {
                break;
            };
            let message = match front {
                Slot::Ready(_) => match self.slots.pop_front() {
                    Some(Slot::Ready(m)) => m,
                    _ => break,
                },
                Slot::Running { meta, result, .. } => match result.try_recv() {
                    Ok(Ok(value)) => {
                        let m = meta.clone().replace(Filterable::Payload(value));
                        self.slots.pop_front();
                        m
                    }
                    Ok(Err(failure)) => {
                        let e = failure.into_error(meta);
                        // An invalid message leaves (the processor dead-letters
                        // it and goes on); a fatal one stays at the front, so
                        // that no later call forwards, and so commits, the
                        // work behind it.
                        if matches!(e, StrategyError::Invalid(_)) {
                            self.slots.pop_front();
                        }
                        return Err(e);
                    }
                    Err(oneshot::error::TryRecvError::Empty) => break,
                    Err(oneshot::error::TryRecvError::Closed) => {
                        // A task cancelled, or a fatal failure already
                        // reported: it stays at the front, as above.
                        return Err(
                            Failure::Panic("the task was cancelled".to_owned()).into_error(meta)
                        );
                    }
                },
            };
            self.outbox.send(next, message)?;
        }
        Ok(())
    }

    /// Waits for every slot to finish and be forwarded (or `deadline`),
    /// woken by `progress`, then returns the commits `next` made meanwhile.
    pub(crate) async fn finish<N: ProcessingStrategy<U> + ?Sized>(
        &mut self,
        next: &mut N,
        progress: &Progress,
        deadline: Option<Instant>,
    ) -> Result<Option<CommitRequest>, StrategyError> {
        let mut commits = None;
        loop {
            self.advance(next)?;
            commits = CommitRequest::merge_opt(commits, next.poll()?);
            if self.slots.is_empty() && self.outbox.is_empty() {
                return Ok(commits);
            }
            if !wait(progress, deadline).await {
                self.clear();
                return Ok(commits);
            }
        }
    }

    /// Drops everything, cancelling the tasks still running.
    pub(crate) fn clear(&mut self) {
        for slot in self.slots.drain(..) {
            if let Slot::Running {
                abort: Some(abort), ..
            } = slot
            {
                abort.abort();
            }
        }
        self.outbox.clear();
    }
}
