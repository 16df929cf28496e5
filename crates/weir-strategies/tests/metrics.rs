//! The processor reports through the `metrics` facade.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use weir_core::Payload;
use weir_strategies::{
    CommitOffsets, CommitPolicy, InvalidPolicy, RunTask, TaskError, metrics as names,
};

/// Sums every metric by name (labels folded in).
#[derive(Clone, Default)]
struct Totals(Arc<Mutex<BTreeMap<String, f64>>>);

struct Handle(String, Totals);

impl CounterFn for Handle {
    fn increment(&self, value: u64) {
        *self.1.0.lock().unwrap().entry(self.0.clone()).or_default() += value as f64;
    }
    fn absolute(&self, value: u64) {
        self.1
            .0
            .lock()
            .unwrap()
            .insert(self.0.clone(), value as f64);
    }
}

impl GaugeFn for Handle {
    fn increment(&self, value: f64) {
        *self.1.0.lock().unwrap().entry(self.0.clone()).or_default() += value;
    }
    fn decrement(&self, value: f64) {
        *self.1.0.lock().unwrap().entry(self.0.clone()).or_default() -= value;
    }
    fn set(&self, value: f64) {
        self.1.0.lock().unwrap().insert(self.0.clone(), value);
    }
}

impl HistogramFn for Handle {
    fn record(&self, _value: f64) {
        *self.1.0.lock().unwrap().entry(self.0.clone()).or_default() += 1.0;
    }
}

impl Recorder for Totals {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(Handle(key.name().to_owned(), self.clone())))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(Arc::new(Handle(key.name().to_owned(), self.clone())))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(Handle(key.name().to_owned(), self.clone())))
    }
}

#[test]
fn the_processor_records_its_metrics() {
    let totals = Totals::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    metrics::with_local_recorder(&totals, || {
        rt.block_on(async {
            let (broker, topic) = setup(2).await;
            produce(&broker, &topic, 2, 0..30).await;
            let p = builder(
                &broker,
                &topic,
                factory(|| {
                    RunTask::new(
                        |p: Payload| {
                            if &p.value[..] == b"7" {
                                Err(TaskError::invalid("seven"))
                            } else {
                                Ok(p)
                            }
                        },
                        CommitOffsets::new(),
                    )
                }),
            )
            .await
            .commit_policy(CommitPolicy::immediately())
            .invalid_messages(InvalidPolicy::skip())
            .build();
            let running = spawn(p);
            let done = |c: &BTreeMap<u32, Option<u64>>| c[&0] == Some(15) && c[&1] == Some(15);
            eventually("all are committed", || async {
                done(&committed(&broker, &topic, 2).await)
            })
            .await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            running.stop().await.unwrap();
        });
    });
    let t = totals.0.lock().unwrap().clone();
    assert_eq!(t.get(names::MESSAGES_TOTAL), Some(&30.0), "{t:?}");
    assert_eq!(t.get(names::INVALID_TOTAL), Some(&1.0), "{t:?}");
    assert_eq!(t.get(names::ASSIGNED_TOTAL), Some(&2.0), "{t:?}");
    assert!(
        t.get(names::COMMITS_TOTAL).is_some_and(|c| *c >= 1.0),
        "{t:?}"
    );
    assert!(
        t.get(names::JOIN_SECONDS).is_some_and(|c| *c >= 1.0),
        "the shutdown join is timed: {t:?}"
    );
    assert!(t.contains_key(names::CONSUMER_POLL_SECONDS), "{t:?}");
    assert!(t.contains_key(names::PROCESSING_SECONDS), "{t:?}");
    assert_eq!(
        t.get(names::CONSUMER_LAG),
        Some(&0.0),
        "the memory broker knows the lag: {t:?}"
    );
}
