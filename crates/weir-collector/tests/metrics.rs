//! The queue reports its load through the `metrics` facade.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use weir_collector::{BoxError, Collector, CollectorQueue, Context};

#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        if let Ok(mut samples) = self.0.lock() {
            samples.push(value);
        }
    }
}

/// Keeps every metric by `name{label=value,...}`.
#[derive(Default)]
struct Capture {
    counters: Mutex<HashMap<String, Arc<AtomicU64>>>,
    gauges: Mutex<HashMap<String, Arc<AtomicU64>>>,
    histograms: Mutex<HashMap<String, Arc<Samples>>>,
}

fn id(key: &Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Capture {
    fn counter(&self, id: &str) -> Option<u64> {
        self.counters
            .lock()
            .ok()?
            .get(id)
            .map(|c| c.load(Ordering::SeqCst))
    }
    fn gauge(&self, id: &str) -> Option<f64> {
        self.gauges
            .lock()
            .ok()?
            .get(id)
            .map(|g| f64::from_bits(g.load(Ordering::SeqCst)))
    }
    fn histogram_len(&self, id: &str) -> Option<usize> {
        let histograms = self.histograms.lock().ok()?;
        let samples = histograms.get(id)?.0.lock().ok()?;
        Some(samples.len())
    }
}

impl Recorder for Capture {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        Counter::from_arc(Arc::clone(map.entry(id(key)).or_default()))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let mut map = self.gauges.lock().unwrap_or_else(|e| e.into_inner());
        Gauge::from_arc(Arc::clone(map.entry(id(key)).or_default()))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut map = self.histograms.lock().unwrap_or_else(|e| e.into_inner());
        Histogram::from_arc(Arc::clone(map.entry(id(key)).or_default()))
    }
}

#[test]
fn depth_consumers_times_and_rates_are_reported() {
    let capture = Capture::default();
    metrics::with_local_recorder(&capture, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let good = Collector::builder("good")
                .processor(|n: u32, _: Context<()>| async move { Ok::<_, BoxError>(n) });
            let bad = Collector::builder("bad").processor(|_: u32, _: Context<()>| async move {
                Err::<u32, _>(BoxError::from("nope"))
            });
            let queue = CollectorQueue::builder()
                .name("m")
                .collectors([good, bad])
                .consumers(3, 3)
                .build()
                .expect("valid queue");
            let running = queue.start().await.expect("starts");
            let publisher = running.publisher();
            for n in 0..5 {
                let results = publisher.send(n).await.expect("sent").await;
                assert_eq!(results.errors().count(), 1);
            }
            // Let the autoscaler measure once.
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            assert_eq!(
                capture.gauge("weir_collector_consumers{queue=m}"),
                Some(3.0)
            );
            running.shutdown().await;
        });
    });

    assert_eq!(
        capture.counter("weir_collector_events_accepted_total{queue=m}"),
        Some(5)
    );
    assert_eq!(
        capture.counter("weir_collector_events_completed_total{queue=m}"),
        Some(5)
    );
    assert_eq!(
        capture.counter("weir_collector_failures_total{collector=bad,queue=m}"),
        Some(5)
    );
    assert_eq!(
        capture.counter("weir_collector_failures_total{collector=good,queue=m}"),
        Some(0)
    );
    assert_eq!(
        capture.histogram_len("weir_collector_wait_seconds{queue=m}"),
        Some(5)
    );
    assert_eq!(
        capture.histogram_len("weir_collector_service_seconds{queue=m}"),
        Some(5)
    );
    assert_eq!(
        capture.histogram_len("weir_collector_processor_seconds{collector=good,queue=m}"),
        Some(5)
    );
    assert_eq!(
        capture.gauge("weir_collector_queue_depth{queue=m}"),
        Some(0.0)
    );
    assert_eq!(
        capture.gauge("weir_collector_consumers_busy{queue=m}"),
        Some(0.0)
    );
    assert_eq!(
        capture.gauge("weir_collector_consumers{queue=m}"),
        Some(0.0),
        "all exited at shutdown"
    );
    assert!(
        capture
            .gauge("weir_collector_arrival_rate{queue=m}")
            .is_some()
    );
    assert!(
        capture
            .gauge("weir_collector_completion_rate{queue=m}")
            .is_some()
    );
}
