//! The collector queue: its configuration, its start, and its scoped run.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::signal::Signal;
use futures::FutureExt;
use futures::future::BoxFuture;

use crate::autoscale::Scaler;
use crate::dead_letter::ErasedSink;
use crate::metrics::{Load, Metrics};
use crate::queue::EventQueue;
use crate::shared::Shared;
use crate::{
    Autoscale, BoxError, BuildError, Collector, DeadLetterSink, Directory, Failure, Publisher,
    QueueType, Router, RunningQueue, ShutdownReport, StartError,
};

/// How many events a consumer takes off a FIFO or LIFO queue at once at most.
const BATCH: usize = 16;

/// The same for a priority queue: a smaller batch keeps a more urgent event
/// that arrives meanwhile from waiting long behind less urgent ones.
const PRIORITY_BATCH: usize = 4;

/// An in-process queue that routes events of type `P` to [`Collector`]s and
/// hands their results of type `R` back, with a pool of consumer tasks that
/// autoscales between a minimum and a maximum.
///
/// Build it with [`CollectorQueue::builder`], then either
/// [`run`](Self::run) a scope with it (start, run your code, always shut
/// down) or [`start`](Self::start) it and [`shutdown`](RunningQueue::shutdown)
/// the [`RunningQueue`] yourself. Either needs a tokio runtime with the time
/// driver enabled (`#[tokio::main]` or `Builder::enable_all`): the autoscaler,
/// timeouts and backoff run on the tokio clock.
///
/// ```
/// use weir_collector::{BoxError, Collector, CollectorQueue, Context, Event};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let audit = Collector::builder("audit")
///     .processor(|line: String, _: Context<()>| async move { Ok::<_, BoxError>(line.len()) });
/// let queue = CollectorQueue::builder().collector(audit).consumers(1, 4).build()?;
///
/// let running = queue.start().await?;
/// let publisher = running.publisher();
/// let handle = publisher.send(Event::new("hello".to_owned()).to_keys(["audit"])).await?;
/// assert_eq!(handle.await.first().and_then(|r| r.as_ref().ok()), Some(&5));
/// let report = running.shutdown().await;
/// assert!(report.is_clean());
/// # Ok(())
/// # }
/// ```
pub struct CollectorQueue<P, R> {
    name: Arc<str>,
    collectors: Vec<Collector<P, R>>,
    /// `None`: the default [`SimpleRouter`].
    router: Option<Box<dyn Router<P>>>,
    queue_type: QueueType,
    default_priority: i64,
    capacity: usize,
    min: usize,
    max: usize,
    autoscale: Autoscale,
    drain_timeout: Duration,
    dead_letter: Option<Box<dyn ErasedSink<P>>>,
}

impl<P, R> fmt::Debug for CollectorQueue<P, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CollectorQueue")
            .field("name", &self.name)
            .field("collectors", &self.collectors)
            .field("queue_type", &self.queue_type)
            .field("capacity", &self.capacity)
            .field("min_consumers", &self.min)
            .field("max_consumers", &self.max)
            .finish_non_exhaustive()
    }
}

impl<P, R> CollectorQueue<P, R>
where
    P: Clone + Send + Sync + 'static,
    R: Send + 'static,
{
    /// Starts configuring a queue.
    pub fn builder() -> CollectorQueueBuilder<P, R> {
        CollectorQueueBuilder {
            name: Arc::from("default"),
            collectors: Vec::new(),
            router: None,
            queue_type: QueueType::Fifo,
            default_priority: 0,
            capacity: 1024,
            min: 1,
            max: 16,
            autoscale: Autoscale::default(),
            drain_timeout: Duration::from_secs(30),
            dead_letter: None,
        }
    }

    /// Runs every collector's setup (in order), then starts the consumers and
    /// the autoscaler. Stop it with [`RunningQueue::shutdown`]; for a queue
    /// that lives as long as one piece of code, [`run`](Self::run) does both.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_collector::{BoxError, Collector, CollectorQueue, Context};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let double = Collector::builder("double").processor(|n: u32, _: Context<()>| async move { Ok::<_, BoxError>(n * 2) });
    /// let running = CollectorQueue::builder().collector(double).build()?.start().await?;
    /// let results = running.publisher().send(21).await?.await;
    /// assert_eq!(results.values().copied().collect::<Vec<_>>(), [42]);
    /// assert!(running.shutdown().await.drained);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StartError::Setup`] when a collector's [`Lifecycle`](crate::Lifecycle)
    /// setup fails; the collectors set up before it are torn down again.
    pub async fn start(self) -> Result<RunningQueue<P, R>, StartError> {
        for (done, collector) in self.collectors.iter().enumerate() {
            let Some(lifecycle) = &collector.lifecycle else {
                continue;
            };
            if let Err(failure) = guarded(lifecycle.setup()).await {
                for earlier in self.collectors[..done].iter().rev() {
                    if let Some(lifecycle) = &earlier.lifecycle
                        && let Err(undo) = guarded(lifecycle.teardown()).await
                    {
                        tracing::warn!(collector = %earlier.key, failure = &undo as &(dyn std::error::Error + 'static), "teardown after failed start failed");
                    }
                }
                return Err(StartError::Setup {
                    key: Arc::clone(&collector.key),
                    failure,
                });
            }
        }

        let keys: Vec<Arc<str>> = self.collectors.iter().map(|c| Arc::clone(&c.key)).collect();
        let directory = Directory::new(
            self.collectors
                .iter()
                .map(|c| (&c.key, c.topics.as_slice())),
        );
        let shared = Arc::new(Shared {
            metrics: Metrics::new(&self.name, &keys),
            collectors: self.collectors,
            directory,
            router: self.router,
            queue: EventQueue::new(self.queue_type, self.capacity),
            default_priority: self.default_priority,
            load: Load::default(),
            dead_letter: self.dead_letter,
            hard_stop: Signal::new(),
            interrupted: Mutex::new(Vec::new()),
            unprocessed: Mutex::new(Vec::new()),
            batch: if self.queue_type == QueueType::Priority {
                PRIORITY_BATCH
            } else {
                BATCH
            },
        });
        let scaler = Scaler::new(self.min, self.max, self.autoscale);
        Ok(RunningQueue::launch(
            shared,
            scaler,
            self.min,
            self.autoscale.interval(),
            self.drain_timeout,
        ))
    }

    /// Starts the queue, runs `scope` with a publisher, and shuts the queue
    /// down however the scope ends: with a value, an error value, or a panic
    /// (which is resumed after the shutdown).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_collector::{BoxError, Collector, CollectorQueue, Context};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let echo = Collector::builder("echo").processor(|n: u8, _: Context<()>| async move { Ok::<_, BoxError>(n) });
    /// let queue = CollectorQueue::builder().collector(echo).build()?;
    /// let (sum, report) = queue
    ///     .run(|publisher| async move {
    ///         let mut sum = 0;
    ///         for n in 1..=3u8 {
    ///             let results = publisher.send(n).await?.await;
    ///             sum += results.values().sum::<u8>();
    ///         }
    ///         Ok::<_, weir_collector::SendError<u8>>(sum)
    ///     })
    ///     .await?;
    /// assert_eq!(sum?, 6);
    /// assert!(report.drained);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StartError::Setup`] when a collector's setup fails (the scope does
    /// not run); the scope's own errors are in its value `T`.
    pub async fn run<F, Fut, T>(self, scope: F) -> Result<(T, ShutdownReport<P>), StartError>
    where
        F: FnOnce(Publisher<P, R>) -> Fut,
        Fut: Future<Output = T>,
    {
        let running = self.start().await?;
        let outcome = AssertUnwindSafe(scope(running.publisher()))
            .catch_unwind()
            .await;
        let report = running.shutdown().await;
        match outcome {
            Ok(value) => Ok((value, report)),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// The queue's name (the `queue` label of its metrics).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The collectors, in build order.
    pub fn collectors(&self) -> &[Collector<P, R>] {
        &self.collectors
    }
}

/// Runs a lifecycle step, turning an error or a panic into a [`Failure`].
pub(crate) async fn guarded(step: BoxFuture<'_, Result<(), BoxError>>) -> Result<(), Failure> {
    match AssertUnwindSafe(step).catch_unwind().await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(Failure::error(error)),
        Err(panic) => Err(Failure::Panicked(
            panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned()),
        )),
    }
}

/// Configures a [`CollectorQueue`]; [`build`](Self::build) checks it.
#[must_use = "a builder does nothing until `build`"]
pub struct CollectorQueueBuilder<P, R> {
    name: Arc<str>,
    collectors: Vec<Collector<P, R>>,
    /// `None`: the default [`SimpleRouter`].
    router: Option<Box<dyn Router<P>>>,
    queue_type: QueueType,
    default_priority: i64,
    capacity: usize,
    min: usize,
    max: usize,
    autoscale: Autoscale,
    drain_timeout: Duration,
    dead_letter: Option<Box<dyn ErasedSink<P>>>,
}

impl<P, R> CollectorQueueBuilder<P, R>
where
    P: Clone + Send + Sync + 'static,
    R: Send + 'static,
{
    /// Names the queue (the `queue` label of its metrics; default `"default"`).
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Adds a collector.
    pub fn collector(mut self, collector: Collector<P, R>) -> Self {
        self.collectors.push(collector);
        self
    }

    /// Adds collectors.
    pub fn collectors(mut self, collectors: impl IntoIterator<Item = Collector<P, R>>) -> Self {
        self.collectors.extend(collectors);
        self
    }

    /// Sets the fewest consumers the queue runs (default 1, at least 1).
    pub fn min_consumers(mut self, min: usize) -> Self {
        self.min = min;
        self
    }

    /// Sets the most consumers the queue runs (default 16).
    pub fn max_consumers(mut self, max: usize) -> Self {
        self.max = max;
        self
    }

    /// Sets both consumer bounds.
    pub fn consumers(self, min: usize, max: usize) -> Self {
        self.min_consumers(min).max_consumers(max)
    }

    /// Sets the service order (default FIFO).
    pub fn queue_type(mut self, queue_type: QueueType) -> Self {
        self.queue_type = queue_type;
        self
    }

    /// Sets the priority of events sent without one (default 0).
    pub fn default_priority(mut self, priority: i64) -> Self {
        self.default_priority = priority;
        self
    }

    /// Sets how many events may wait (default 1024); `send` waits and
    /// `try_send` refuses beyond it.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Replaces the default [`SimpleRouter`](crate::SimpleRouter).
    pub fn router(mut self, router: impl Router<P>) -> Self {
        self.router = Some(Box::new(router));
        self
    }

    /// Tunes the autoscaler.
    pub fn autoscale(mut self, autoscale: Autoscale) -> Self {
        self.autoscale = autoscale;
        self
    }

    /// Sets how long shutdown waits for accepted events (default 30 s).
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Sends events a collector failed on after every attempt to this sink.
    pub fn dead_letter(mut self, sink: impl DeadLetterSink<P>) -> Self {
        self.dead_letter = Some(Box::new(sink));
        self
    }

    /// Checks the configuration and builds the queue.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming what is wrong: no collector, two with one key,
    /// consumer bounds that are not `1 <= min <= max`, a zero capacity or
    /// autoscale interval.
    pub fn build(self) -> Result<CollectorQueue<P, R>, BuildError> {
        if self.collectors.is_empty() {
            return Err(BuildError::NoCollectors);
        }
        let mut seen = HashSet::new();
        for collector in &self.collectors {
            if !seen.insert(&*collector.key) {
                return Err(BuildError::DuplicateKey(collector.key.to_string()));
            }
        }
        if self.min == 0 || self.min > self.max {
            return Err(BuildError::ConsumerBounds {
                min: self.min,
                max: self.max,
            });
        }
        if self.capacity == 0 {
            return Err(BuildError::ZeroCapacity);
        }
        if self.autoscale.interval().is_zero() {
            return Err(BuildError::ZeroInterval);
        }
        Ok(CollectorQueue {
            name: self.name,
            collectors: self.collectors,
            router: self.router,
            queue_type: self.queue_type,
            default_priority: self.default_priority,
            capacity: self.capacity,
            min: self.min,
            max: self.max,
            autoscale: self.autoscale,
            drain_timeout: self.drain_timeout,
            dead_letter: self.dead_letter,
        })
    }
}
