//! A started queue: its consumers, its autoscaler, and its shutdown.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::autoscale::{Sample, Scaler};
use crate::consumer::consume;
use crate::shared::Shared;
use crate::signal::Signal;
use crate::{CollectorError, Publisher, QueueStats};

/// What shutting a queue down did, and what it could not do.
#[derive(Debug)]
#[non_exhaustive]
pub struct ShutdownReport<P> {
    /// Events completed over the queue's life.
    pub completed: u64,
    /// Whether everything accepted finished within the drain timeout.
    pub drained: bool,
    /// Events still waiting when the drain timeout ran out; each one's handle
    /// resolved with [`Failure::ShutDown`](crate::Failure::ShutDown) errors.
    pub unprocessed: Vec<P>,
    /// Events whose processing the drain timeout cut off.
    pub interrupted: Vec<P>,
    /// Collectors whose lifecycle teardown failed.
    pub teardown_errors: Vec<CollectorError>,
}

impl<P> ShutdownReport<P> {
    /// Whether the queue drained and tore down cleanly.
    pub fn is_clean(&self) -> bool {
        self.drained
            && self.unprocessed.is_empty()
            && self.interrupted.is_empty()
            && self.teardown_errors.is_empty()
    }
}

/// The consumer pool: one retire token per live consumer.
pub(crate) struct Pool<P, R> {
    shared: Arc<Shared<P, R>>,
    tracker: TaskTracker,
    retire: Mutex<Vec<Signal>>,
}

impl<P, R> Pool<P, R>
where
    P: Clone + Send + Sync + 'static,
    R: Send + 'static,
{
    fn size(&self) -> usize {
        self.retire
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Grows or shrinks the pool to `target` consumers. A retired consumer
    /// still finishing its event keeps its slot until it exits, so the number
    /// of consumer tasks never exceeds the largest target.
    fn resize(&self, target: usize) {
        let mut retire = self.retire.lock().unwrap_or_else(PoisonError::into_inner);
        let live = self.shared.load.consumers.load(Ordering::Relaxed);
        let retiring = live.saturating_sub(retire.len());
        while retire.len() + retiring < target {
            let token = Signal::new();
            retire.push(token.clone());
            let live = self.shared.load.consumers.fetch_add(1, Ordering::Relaxed) + 1;
            self.shared.metrics.consumers.set(live as f64);
            self.tracker.spawn(consume(Arc::clone(&self.shared), token));
        }
        while retire.len() > target {
            if let Some(token) = retire.pop() {
                token.fire();
            }
        }
    }
}

/// A started [`CollectorQueue`](crate::CollectorQueue): hand out
/// [`Publisher`]s, watch its [`stats`](Self::stats), and
/// [`shutdown`](Self::shutdown) when done.
///
/// Dropping it without `shutdown` stops the consumers at once: waiting events
/// resolve as abandoned and lifecycle teardowns do not run.
pub struct RunningQueue<P, R> {
    shared: Arc<Shared<P, R>>,
    pool: Arc<Pool<P, R>>,
    scaler_stop: CancellationToken,
    scaler: Option<JoinHandle<()>>,
    drain_timeout: Duration,
    shut_down: bool,
}

impl<P, R> fmt::Debug for RunningQueue<P, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningQueue")
            .field("stats", &self.shared.stats())
            .field("drain_timeout", &self.drain_timeout)
            .finish_non_exhaustive()
    }
}

impl<P, R> RunningQueue<P, R>
where
    P: Clone + Send + Sync + 'static,
    R: Send + 'static,
{
    pub(crate) fn launch(
        shared: Arc<Shared<P, R>>,
        mut scaler: Scaler,
        min: usize,
        interval: Duration,
        drain_timeout: Duration,
    ) -> Self {
        let pool = Arc::new(Pool {
            shared: Arc::clone(&shared),
            tracker: TaskTracker::new(),
            retire: Mutex::new(Vec::new()),
        });
        pool.resize(min);
        let scaler_stop = CancellationToken::new();
        let handle = tokio::spawn({
            let pool = Arc::clone(&pool);
            let stop = scaler_stop.clone();
            async move {
                let mut ticker = tokio::time::interval(interval);
                ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
                ticker.tick().await;
                let load = &pool.shared.load;
                let mut last = Instant::now();
                let mut accepted = load.accepted.load(Ordering::Relaxed);
                let mut completed = load.completed.load(Ordering::Relaxed);
                let mut service = load.service_nanos.load(Ordering::Relaxed);
                loop {
                    tokio::select! {
                        biased;
                        () = stop.cancelled() => break,
                        _ = ticker.tick() => {}
                    }
                    let now = Instant::now();
                    let (a, c, s) = (
                        load.accepted.load(Ordering::Relaxed),
                        load.completed.load(Ordering::Relaxed),
                        load.service_nanos.load(Ordering::Relaxed),
                    );
                    let sample = Sample {
                        elapsed: now.saturating_duration_since(last),
                        arrivals: a.saturating_sub(accepted),
                        completions: c.saturating_sub(completed),
                        service: Duration::from_nanos(s.saturating_sub(service)),
                        depth: pool.shared.queue.len(),
                        busy: load.busy.load(Ordering::Relaxed),
                        consumers: pool.size(),
                    };
                    (last, accepted, completed, service) = (now, a, c, s);
                    if let Some(mean) = sample
                        .service
                        .as_nanos()
                        .checked_div(u128::from(sample.completions))
                    {
                        let mean = u64::try_from(mean).unwrap_or(u64::MAX).max(1);
                        load.recent_service_nanos.store(mean, Ordering::Relaxed);
                    }
                    let metrics = &pool.shared.metrics;
                    metrics
                        .arrival_rate
                        .set(Scaler::rate(sample.arrivals, sample.elapsed));
                    metrics
                        .completion_rate
                        .set(Scaler::rate(sample.completions, sample.elapsed));
                    let target = scaler.decide(&sample);
                    if target != sample.consumers {
                        tracing::debug!(
                            from = sample.consumers,
                            to = target,
                            "resizing consumer pool"
                        );
                        pool.resize(target);
                    }
                }
            }
        });
        Self {
            shared,
            pool,
            scaler_stop,
            scaler: Some(handle),
            drain_timeout,
            shut_down: false,
        }
    }

    /// A publisher for this queue.
    pub fn publisher(&self) -> Publisher<P, R> {
        Publisher::new(Arc::clone(&self.shared))
    }

    /// The queue's current load.
    pub fn stats(&self) -> QueueStats {
        self.shared.stats()
    }

    /// Stops accepting events, lets the consumers finish what was accepted
    /// (within the drain timeout), then runs the collectors' teardowns in
    /// reverse order. What could not finish in time is in the report, and
    /// its handles resolve with [`Failure::ShutDown`](crate::Failure::ShutDown) errors.
    pub async fn shutdown(mut self) -> ShutdownReport<P> {
        self.shut_down = true;
        let shared = &self.shared;
        shared.queue.close();
        let tracker = &self.pool.tracker;
        tracker.close();
        // The autoscaler keeps running while the backlog drains: a backlog
        // is a reason to add consumers.
        let drained = tokio::time::timeout(self.drain_timeout, tracker.wait())
            .await
            .is_ok();
        self.scaler_stop.cancel();
        if let Some(handle) = self.scaler.take()
            && let Err(error) = handle.await
        {
            tracing::error!(%error, "collector queue autoscaler failed");
        }
        if !drained {
            tracing::warn!(timeout = ?self.drain_timeout, "collector queue did not drain in time");
            shared.hard_stop.fire();
        }
        // Cut-off consumers, and any the autoscaler added at the last moment
        // (they find the queue closed and empty), end at once.
        tracker.wait().await;

        let mut unprocessed = shared.take_unprocessed();
        while let Some((envelope, _)) = shared.queue.try_pop() {
            unprocessed.push(shared.abandon(envelope));
        }

        let mut teardown_errors = Vec::new();
        for collector in shared.collectors.iter().rev() {
            if let Some(lifecycle) = &collector.lifecycle
                && let Err(failure) = crate::collector_queue::guarded(lifecycle.teardown()).await
            {
                tracing::warn!(collector = %collector.key, failure = &failure as &(dyn std::error::Error + 'static), "collector teardown failed");
                teardown_errors.push(CollectorError::new(Arc::clone(&collector.key), failure, 1));
            }
        }

        ShutdownReport {
            completed: shared.load.completed.load(Ordering::Relaxed),
            drained,
            unprocessed,
            interrupted: shared.take_interrupted(),
            teardown_errors,
        }
    }
}

impl<P, R> Drop for RunningQueue<P, R> {
    fn drop(&mut self) {
        if !self.shut_down {
            self.scaler_stop.cancel();
            self.shared.queue.close();
            self.shared.hard_stop.fire();
            // Waiting events resolve as abandoned rather than hang.
            while self.shared.queue.try_pop().is_some() {}
        }
    }
}
