//! Counters the queue keeps for itself (the autoscaler reads them) and the
//! metrics it reports through the `metrics` facade.
//!
//! Every metric carries a `queue` label (the queue's name); per-collector ones
//! carry a `collector` label too.
//!
//! | name | kind | what |
//! |---|---|---|
//! | `weir_collector_queue_depth` | gauge | events waiting |
//! | `weir_collector_consumers` | gauge | consumer tasks running |
//! | `weir_collector_consumers_busy` | gauge | consumers processing an event |
//! | `weir_collector_events_accepted_total` | counter | events accepted by `send`/`try_send` |
//! | `weir_collector_events_completed_total` | counter | events whose every target finished |
//! | `weir_collector_arrival_rate` | gauge | accepted events per second, last autoscale interval |
//! | `weir_collector_completion_rate` | gauge | completed events per second, last autoscale interval |
//! | `weir_collector_wait_seconds` | histogram | time from accept to a consumer taking the event |
//! | `weir_collector_service_seconds` | histogram | time a consumer spent on an event |
//! | `weir_collector_processor_seconds` | histogram (`collector`) | time of one collector's processing, retries included |
//! | `weir_collector_failures_total` | counter (`collector`) | events a collector failed on after all attempts |

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram};

/// A snapshot of a running queue's load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// Events waiting in the queue.
    pub depth: usize,
    /// Consumer tasks running.
    pub consumers: usize,
    /// Consumers processing an event right now.
    pub busy: usize,
    /// Events accepted since start.
    pub accepted: u64,
    /// Events completed since start. Consumers add their completions once
    /// per batch they took, and before any result goes out.
    pub completed: u64,
}

/// A value on its own cache line, so the publishers' counter and the
/// consumers' counters do not slow each other down.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// The queue's own load counters.
#[derive(Debug, Default)]
pub(crate) struct Load {
    /// Written by publishers.
    pub(crate) accepted: Padded<AtomicU64>,
    // Written by consumers.
    pub(crate) completed: AtomicU64,
    pub(crate) service_nanos: AtomicU64,
    pub(crate) busy: AtomicUsize,
    pub(crate) consumers: AtomicUsize,
    /// Mean service time over the last autoscale interval that completed
    /// anything, in nanoseconds; 0 until then.
    pub(crate) recent_service_nanos: AtomicU64,
}

impl Load {
    /// The mean service time: of the last autoscale interval if known, else
    /// since start; `None` before anything completed.
    pub(crate) fn mean_service(&self) -> Option<Duration> {
        let recent = self.recent_service_nanos.load(Ordering::Relaxed);
        if recent > 0 {
            return Some(Duration::from_nanos(recent));
        }
        let completed = self.completed.load(Ordering::Relaxed);
        let total = self.service_nanos.load(Ordering::Relaxed);
        (completed > 0).then(|| Duration::from_nanos(total / completed))
    }

    /// Adds `events` completions that took `service_nanos` in all.
    pub(crate) fn record_completions(&self, events: u64, service_nanos: u64) {
        self.service_nanos
            .fetch_add(service_nanos, Ordering::Relaxed);
        self.completed.fetch_add(events, Ordering::Relaxed);
    }
}

/// Handles into the `metrics` recorder installed when the queue started.
pub(crate) struct Metrics {
    pub(crate) depth: Gauge,
    pub(crate) consumers: Gauge,
    pub(crate) busy: Gauge,
    pub(crate) accepted: Counter,
    pub(crate) completed: Counter,
    pub(crate) arrival_rate: Gauge,
    pub(crate) completion_rate: Gauge,
    pub(crate) wait: Histogram,
    pub(crate) service: Histogram,
    pub(crate) processor: Vec<Histogram>,
    pub(crate) failures: Vec<Counter>,
}

impl Metrics {
    pub(crate) fn new(queue: &Arc<str>, collectors: &[Arc<str>]) -> Self {
        let q = queue.to_string();
        let per = |name: &'static str, key: &Arc<str>| {
            (name, [("queue", q.clone()), ("collector", key.to_string())])
        };
        Self {
            depth: metrics::gauge!("weir_collector_queue_depth", "queue" => q.clone()),
            consumers: metrics::gauge!("weir_collector_consumers", "queue" => q.clone()),
            busy: metrics::gauge!("weir_collector_consumers_busy", "queue" => q.clone()),
            accepted: metrics::counter!("weir_collector_events_accepted_total", "queue" => q.clone()),
            completed: metrics::counter!("weir_collector_events_completed_total", "queue" => q.clone()),
            arrival_rate: metrics::gauge!("weir_collector_arrival_rate", "queue" => q.clone()),
            completion_rate: metrics::gauge!("weir_collector_completion_rate", "queue" => q.clone()),
            wait: metrics::histogram!("weir_collector_wait_seconds", "queue" => q.clone()),
            service: metrics::histogram!("weir_collector_service_seconds", "queue" => q.clone()),
            processor: collectors
                .iter()
                .map(|k| {
                    let (name, labels) = per("weir_collector_processor_seconds", k);
                    metrics::histogram!(name, &labels)
                })
                .collect(),
            failures: collectors
                .iter()
                .map(|k| {
                    let (name, labels) = per("weir_collector_failures_total", k);
                    metrics::counter!(name, &labels)
                })
                .collect(),
        }
    }
}
