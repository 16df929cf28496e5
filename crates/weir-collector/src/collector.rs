//! A collector: a keyed async processor with its context, topics and policies.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::lifecycle::{Bound, BoundLifecycle};
use crate::{BoxError, Lifecycle, RetryPolicy};

pub(crate) type ProcessFn<P, R> =
    Arc<dyn Fn(P, u32) -> BoxFuture<'static, Result<R, BoxError>> + Send + Sync>;

/// What a processor gets beside the payload: the collector's shared context,
/// its key and the attempt number.
///
/// It dereferences to the context value, so `ctx.pool` reads a field of it.
pub struct Context<C> {
    bound: Arc<Keyed<C>>,
    attempt: u32,
}

/// A collector's context with its key: one reference count per call.
struct Keyed<C> {
    shared: Arc<C>,
    key: Arc<str>,
}

impl<C> Context<C> {
    /// The key of the collector processing the event.
    pub fn key(&self) -> &str {
        &self.bound.key
    }

    /// The attempt number, starting at 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The shared context itself, to keep beyond the call.
    pub fn shared(&self) -> &Arc<C> {
        &self.bound.shared
    }
}

impl<C> Deref for Context<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.bound.shared
    }
}

impl<C> Clone for Context<C> {
    fn clone(&self) -> Self {
        Self {
            bound: Arc::clone(&self.bound),
            attempt: self.attempt,
        }
    }
}

impl<C: fmt::Debug> fmt::Debug for Context<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("key", &self.bound.key)
            .field("attempt", &self.attempt)
            .field("shared", &self.bound.shared)
            .finish()
    }
}

/// A keyed async processor that takes payloads of type `P` and returns values
/// of type `R`, with the topics it listens to, its timeout, retry policy and
/// lifecycle. Build one with [`Collector::builder`].
///
/// ```
/// use weir_collector::{BoxError, Collector, Context};
///
/// let doubler: Collector<u32, u32> = Collector::builder("doubler")
///     .topics(["numbers"])
///     .processor(|n: u32, _ctx: Context<()>| async move { Ok::<_, BoxError>(n * 2) });
/// assert_eq!(doubler.key(), "doubler");
/// assert_eq!(doubler.topics(), ["numbers"]);
/// ```
pub struct Collector<P, R> {
    pub(crate) key: Arc<str>,
    pub(crate) topics: Vec<String>,
    pub(crate) process: ProcessFn<P, R>,
    pub(crate) lifecycle: Option<Box<dyn BoundLifecycle>>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: RetryPolicy,
}

impl Collector<(), ()> {
    /// Starts a collector with this key and an empty (`()`) context.
    pub fn builder(key: impl Into<Arc<str>>) -> CollectorBuilder<()> {
        CollectorBuilder {
            key: key.into(),
            topics: Vec::new(),
            ctx: Arc::new(()),
            lifecycle: None,
            timeout: None,
            retry: RetryPolicy::none(),
        }
    }
}

impl<P, R> Collector<P, R> {
    /// The collector's key, unique in its queue.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The topics the collector listens to.
    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// The time one attempt may take, if limited.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The retry policy.
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }
}

impl<P, R> fmt::Debug for Collector<P, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collector")
            .field("key", &self.key)
            .field("topics", &self.topics)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("lifecycle", &self.lifecycle.is_some())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Collector`]; [`processor`](Self::processor) finishes it.
#[must_use = "a builder does nothing until `processor` finishes it"]
pub struct CollectorBuilder<C> {
    key: Arc<str>,
    topics: Vec<String>,
    ctx: Arc<C>,
    lifecycle: Option<Box<dyn BoundLifecycle>>,
    timeout: Option<Duration>,
    retry: RetryPolicy,
}

impl CollectorBuilder<()> {
    /// Gives the collector a typed context, shared by all its calls. Set it
    /// before the [`lifecycle`](CollectorBuilder::lifecycle), which receives it.
    pub fn context<C: Send + Sync + 'static>(self, ctx: C) -> CollectorBuilder<C> {
        self.shared_context(Arc::new(ctx))
    }

    /// Like [`context`](Self::context), for a context already behind an `Arc`
    /// (e.g. one the application keeps a handle to as well).
    pub fn shared_context<C: Send + Sync + 'static>(self, ctx: Arc<C>) -> CollectorBuilder<C> {
        CollectorBuilder {
            key: self.key,
            topics: self.topics,
            ctx,
            lifecycle: self.lifecycle,
            timeout: self.timeout,
            retry: self.retry,
        }
    }
}

impl<C: Send + Sync + 'static> CollectorBuilder<C> {
    /// Adds topics the collector listens to.
    pub fn topics<I, S>(mut self, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.topics.extend(topics.into_iter().map(Into::into));
        self
    }

    /// Runs `lifecycle`'s setup before the first event and its teardown after
    /// the last, with this collector's context.
    pub fn lifecycle<L: Lifecycle<C>>(mut self, lifecycle: L) -> Self {
        self.lifecycle = Some(Box::new(Bound {
            lifecycle,
            ctx: Arc::clone(&self.ctx),
        }));
        self
    }

    /// Limits how long one attempt may take; a slower attempt fails with
    /// [`Failure::TimedOut`](crate::Failure::TimedOut).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Retries failed attempts by this policy (default: no retry).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Finishes the collector with its processor: an async function of the
    /// payload and the [`Context`] that returns a value or an error.
    pub fn processor<P, R, F, Fut>(self, processor: F) -> Collector<P, R>
    where
        F: Fn(P, Context<C>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, BoxError>> + Send + 'static,
    {
        let bound = Arc::new(Keyed {
            shared: self.ctx,
            key: Arc::clone(&self.key),
        });
        let process: ProcessFn<P, R> = Arc::new(move |payload, attempt| {
            let context = Context {
                bound: Arc::clone(&bound),
                attempt,
            };
            Box::pin(processor(payload, context))
        });
        Collector {
            key: self.key,
            topics: self.topics,
            process,
            lifecycle: self.lifecycle,
            timeout: self.timeout,
            retry: self.retry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_processor_sees_context_key_and_attempt() {
        let collector: Collector<u32, String> = Collector::builder("fmt")
            .context(String::from("n="))
            .processor(|n: u32, ctx: Context<String>| async move {
                Ok(format!("{}{}{n}@{}", ctx.key(), *ctx, ctx.attempt()))
            });
        let out = (collector.process)(4, 2).await;
        assert_eq!(out.ok().as_deref(), Some("fmtn=4@2"));
    }

    #[test]
    fn builder_keeps_topics_timeout_and_retry() {
        let collector: Collector<(), ()> = Collector::builder("k")
            .topics(["a"])
            .topics(vec![String::from("b")])
            .timeout(Duration::from_secs(1))
            .retry(RetryPolicy::exponential(3, Duration::from_millis(1)))
            .processor(|(), _ctx: Context<()>| async { Ok(()) });
        assert_eq!(collector.topics(), ["a", "b"]);
        assert_eq!(collector.timeout(), Some(Duration::from_secs(1)));
        assert_eq!(collector.retry().max_attempts(), 3);
        assert!(format!("{collector:?}").contains("\"k\""));
    }
}
