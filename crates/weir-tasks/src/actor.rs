//! Actors: the functions workers run, and the context each run gets.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use weir_core::{Codec, MsgPack};

use crate::catalogue::ActorInfo;
use crate::job::Encoded;
use crate::{Job, RetryPolicy, TaskError, TaskId};

/// Enqueues jobs for a running actor, whatever the broker.
pub(crate) trait Enqueuer: Send + Sync + 'static {
    fn enqueue(&self, job: Encoded) -> BoxFuture<'static, Result<TaskId, TaskError>>;
}

/// What an actor run is given beside its arguments: which task and attempt
/// it is, its parent, a way to enqueue follow-up jobs, and a cancellation
/// token that fires when the attempt times out or the worker stops it.
///
/// ```
/// use weir_tasks::{Context, Job, Router};
///
/// let mut router = Router::new();
/// router.actor("crawl", |url: String, ctx: Context| async move {
///     // A child job records this task as its parent.
///     ctx.enqueue(Job::new("parse").args(format!("{url}/page"))).await?;
///     Ok::<_, weir_tasks::TaskError>(ctx.attempt())
/// });
/// ```
#[derive(Clone)]
pub struct Context<C = MsgPack> {
    pub(crate) id: TaskId,
    pub(crate) actor: String,
    pub(crate) queue: String,
    pub(crate) attempt: u32,
    pub(crate) parent: Option<TaskId>,
    pub(crate) cancel: CancellationToken,
    pub(crate) enqueuer: Arc<dyn Enqueuer>,
    pub(crate) codec: C,
}

impl<C> fmt::Debug for Context<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("id", &self.id)
            .field("actor", &self.actor)
            .field("attempt", &self.attempt)
            .field("parent", &self.parent)
            .finish_non_exhaustive()
    }
}

impl<C: Codec + Clone> Context<C> {
    /// The task id.
    pub fn id(&self) -> &TaskId {
        &self.id
    }

    /// The actor's name.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// The queue the job came from.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// Which attempt this is, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The task that enqueued this one, if an actor did.
    pub fn parent(&self) -> Option<&TaskId> {
        self.parent.as_ref()
    }

    /// Fires when this attempt is to stop: it timed out, or the worker's
    /// graceful shutdown time ran out. An async actor is also dropped then;
    /// a blocking one cannot be, so it should look at this token.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Whether this attempt is to stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Enqueues a follow-up job, whose parent is this task.
    pub async fn enqueue<A: Serialize>(&self, job: Job<A>) -> Result<TaskId, TaskError> {
        let mut encoded = job.encode(&self.codec)?;
        encoded.parent = Some(self.id.clone());
        self.enqueuer.enqueue(encoded).await
    }
}

/// How an actor runs: on the runtime, or on tokio's blocking pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// An async fn, run on the worker's runtime.
    Async,
    /// A blocking fn, run on tokio's blocking pool so CPU-bound or blocking
    /// work never stalls the runtime.
    Blocking,
}

/// What one run of an actor came to.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The result, encoded.
    Done(Bytes),
    /// The actor failed (an error, a panic, a timeout): retried if it may be.
    Failed(String),
    /// The arguments do not decode into what the actor takes: never retried.
    BadArgs(String),
    /// The result does not encode: never retried.
    BadResult(String),
}

/// An actor with its arguments and result erased to bytes.
pub(crate) type RunFn<C> =
    Arc<dyn Fn(Bytes, Context<C>) -> BoxFuture<'static, Outcome> + Send + Sync>;

/// A registered actor.
pub(crate) struct Actor<C> {
    pub(crate) info: ActorInfo,
    pub(crate) retry: RetryPolicy,
    pub(crate) run: RunFn<C>,
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}

fn finish<C: Codec, R: Serialize, E: fmt::Display>(codec: &C, result: Result<R, E>) -> Outcome {
    match result {
        Ok(r) => match codec.encode(&r) {
            Ok(bytes) => Outcome::Done(bytes),
            Err(e) => Outcome::BadResult(e.to_string()),
        },
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

pub(crate) fn async_fn<C, A, R, E, F, Fut>(f: F) -> RunFn<C>
where
    C: Codec + Clone,
    A: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    E: fmt::Display + Send + 'static,
    F: Fn(A, Context<C>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, E>> + Send + 'static,
{
    let f = Arc::new(f);
    Arc::new(move |args: Bytes, ctx: Context<C>| {
        let f = Arc::clone(&f);
        async move {
            let codec = ctx.codec.clone();
            let args: A = match codec.decode(&args) {
                Ok(a) => a,
                Err(e) => return Outcome::BadArgs(e.to_string()),
            };
            let run = AssertUnwindSafe(async move { f(args, ctx).await }).catch_unwind();
            match run.await {
                Ok(result) => finish(&codec, result),
                Err(panic) => Outcome::Failed(format!("panicked: {}", panic_text(&*panic))),
            }
        }
        .boxed()
    })
}

pub(crate) fn blocking_fn<C, A, R, E, F>(f: F) -> RunFn<C>
where
    C: Codec + Clone,
    A: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    E: fmt::Display + Send + 'static,
    F: Fn(A, Context<C>) -> Result<R, E> + Send + Sync + 'static,
{
    let f = Arc::new(f);
    Arc::new(move |args: Bytes, ctx: Context<C>| {
        let f = Arc::clone(&f);
        async move {
            let codec = ctx.codec.clone();
            let args: A = match codec.decode(&args) {
                Ok(a) => a,
                Err(e) => return Outcome::BadArgs(e.to_string()),
            };
            match tokio::task::spawn_blocking(move || f(args, ctx)).await {
                Ok(result) => finish(&codec, result),
                Err(e) if e.is_panic() => {
                    Outcome::Failed(format!("panicked: {}", panic_text(&*e.into_panic())))
                }
                Err(e) => Outcome::Failed(e.to_string()),
            }
        }
        .boxed()
    })
}
