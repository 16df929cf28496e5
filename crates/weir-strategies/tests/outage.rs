//! The StreamProcessor rides through broker outages: transient errors from
//! subscribe, poll and commit are retried with backoff for the outage
//! timeout, and a commit refused because the partition moved is a
//! rebalance. A consumer that injects faults wraps the memory broker's.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use tokio::time::Instant;
use weir_core::{
    Broker, BrokerError, CommitRequest, Consumer, ConsumerConfig, ConsumerEvent, Partition,
    Payload, Topic,
};
use weir_memory::MemoryConsumer;
use weir_strategies::{CommitOffsets, CommitPolicy, ProcessorError, RunTask, StreamProcessor};

/// Faults the next calls meet.
#[derive(Debug, Default)]
struct Faults {
    subscribes: u32,
    polls: u32,
    commits: u32,
    /// The next commit naming this partition is refused as `NotAssigned`.
    moved: Option<Partition>,
    /// Commits refused as `NotAssigned`, and all commit attempts.
    refused: u32,
    commit_calls: u32,
}

/// A memory consumer whose calls fail while the test says the broker is away.
struct Flaky {
    inner: MemoryConsumer,
    faults: Arc<Mutex<Faults>>,
}

fn unreachable() -> BrokerError {
    BrokerError::Unreachable {
        endpoint: "memory://test".into(),
        reason: "connection refused".into(),
    }
}

/// Takes one fault from a counter.
fn take(n: &mut u32) -> bool {
    let hit = *n > 0;
    *n = n.saturating_sub(1);
    hit
}

impl Consumer for Flaky {
    async fn subscribe(&mut self, topics: &[Topic]) -> Result<(), BrokerError> {
        if take(&mut self.faults.lock().unwrap().subscribes) {
            return Err(unreachable());
        }
        self.inner.subscribe(topics).await
    }
    async fn poll(&mut self) -> Result<ConsumerEvent, BrokerError> {
        if take(&mut self.faults.lock().unwrap().polls) {
            // A real client waits a while before it gives up.
            tokio::time::sleep(Duration::from_millis(50)).await;
            return Err(unreachable());
        }
        self.inner.poll().await
    }
    fn pause(&mut self, partitions: &[Partition]) -> Result<(), BrokerError> {
        self.inner.pause(partitions)
    }
    fn resume(&mut self, partitions: &[Partition]) -> Result<(), BrokerError> {
        self.inner.resume(partitions)
    }
    fn paused(&self) -> BTreeSet<Partition> {
        self.inner.paused()
    }
    fn seek(&mut self, partition: &Partition, offset: u64) -> Result<(), BrokerError> {
        self.inner.seek(partition, offset)
    }
    fn assignment(&self) -> BTreeSet<Partition> {
        self.inner.assignment()
    }
    fn position(&self, partition: &Partition) -> Option<u64> {
        self.inner.position(partition)
    }
    async fn commit(&mut self, offsets: &CommitRequest) -> Result<(), BrokerError> {
        {
            let mut f = self.faults.lock().unwrap();
            f.commit_calls += 1;
            if take(&mut f.commits) {
                return Err(unreachable());
            }
            if let Some(p) = f.moved.take_if(|p| offsets.get(p).is_some()) {
                f.refused += 1;
                return Err(BrokerError::NotAssigned { partition: p });
            }
        }
        self.inner.commit(offsets).await
    }
    async fn committed(
        &mut self,
        partitions: &[Partition],
    ) -> Result<BTreeMap<Partition, Option<u64>>, BrokerError> {
        self.inner.committed(partitions).await
    }
    async fn close(&mut self) -> Result<(), BrokerError> {
        self.inner.close().await
    }
}

async fn flaky(broker: &weir_memory::MemoryBroker, faults: Faults) -> (Flaky, Arc<Mutex<Faults>>) {
    let inner = broker
        .consumer(
            ConsumerConfig::builder(GROUP)
                .max_poll_records(10)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let faults = Arc::new(Mutex::new(faults));
    let consumer = Flaky {
        inner,
        faults: Arc::clone(&faults),
    };
    (consumer, faults)
}

/// A processor recording every payload it sees.
fn recording(
    consumer: Flaky,
    topic: &Topic,
    seen: &Seen,
) -> weir_strategies::StreamProcessorBuilder<Flaky> {
    let s = seen.clone();
    StreamProcessor::builder(
        consumer,
        [topic.clone()],
        factory(move || {
            let s = s.clone();
            RunTask::new(move |p: Payload| Ok(s.record(&p)), CommitOffsets::new())
        }),
    )
}

/// Every value of `0..n` was seen at least once; returns how many were seen twice or more.
fn none_lost(seen: &Seen, n: u64) -> usize {
    let mut v = seen.values();
    let all = v.len();
    v.sort_unstable();
    v.dedup();
    assert_eq!(v, (0..n).collect::<Vec<_>>(), "every message processed");
    all - v.len()
}

#[tokio::test(start_paused = true)]
async fn transient_poll_errors_are_retried_until_the_broker_is_back() {
    let (broker, topic) = setup(2).await;
    produce(&broker, &topic, 2, 0..100).await;
    let (consumer, _) = flaky(
        &broker,
        Faults {
            polls: 30,
            ..Faults::default()
        },
    )
    .await;
    let seen = Seen::default();
    let running = spawn(recording(consumer, &topic, &seen).build());
    let done = |c: &BTreeMap<u32, Option<u64>>| c[&0] == Some(50) && c[&1] == Some(50);
    eventually("all 100 are committed", || async {
        done(&committed(&broker, &topic, 2).await)
    })
    .await;
    running.stop().await.unwrap();
    assert_eq!(none_lost(&seen, 100), 0);
}

#[tokio::test(start_paused = true)]
async fn transient_commit_errors_are_retried_and_nothing_is_lost() {
    let (broker, topic) = setup(2).await;
    produce(&broker, &topic, 2, 0..100).await;
    let (consumer, faults) = flaky(
        &broker,
        Faults {
            commits: 8,
            ..Faults::default()
        },
    )
    .await;
    let seen = Seen::default();
    let running = spawn(
        recording(consumer, &topic, &seen)
            .commit_policy(CommitPolicy::every(Duration::from_millis(100)))
            .build(),
    );
    let done = |c: &BTreeMap<u32, Option<u64>>| c[&0] == Some(50) && c[&1] == Some(50);
    eventually("all 100 are committed", || async {
        done(&committed(&broker, &topic, 2).await)
    })
    .await;
    let report = running.stop().await.unwrap();
    assert!(faults.lock().unwrap().commit_calls > 8);
    assert!(report.commits >= 1);
    assert_eq!(none_lost(&seen, 100), 0, "no rebalance, so no duplicate");
}

#[tokio::test(start_paused = true)]
async fn subscribing_while_the_broker_is_away_is_retried() {
    let (broker, topic) = setup(1).await;
    produce(&broker, &topic, 1, 0..10).await;
    let (consumer, _) = flaky(
        &broker,
        Faults {
            subscribes: 5,
            ..Faults::default()
        },
    )
    .await;
    let seen = Seen::default();
    let running = spawn(recording(consumer, &topic, &seen).build());
    eventually("all 10 are committed", || async {
        committed(&broker, &topic, 1).await[&0] == Some(10)
    })
    .await;
    running.stop().await.unwrap();
    assert_eq!(none_lost(&seen, 10), 0);
}

#[tokio::test(start_paused = true)]
async fn an_outage_past_the_timeout_stops_with_an_error_naming_it() {
    let (broker, topic) = setup(1).await;
    produce(&broker, &topic, 1, 0..10).await;
    let (consumer, _) = flaky(
        &broker,
        Faults {
            polls: u32::MAX,
            ..Faults::default()
        },
    )
    .await;
    let seen = Seen::default();
    let started = Instant::now();
    let outcome = recording(consumer, &topic, &seen)
        .outage_timeout(Duration::from_secs(20))
        .build()
        .run()
        .await;
    let took = started.elapsed();
    let err = outcome.unwrap_err();
    assert!(
        matches!(
            &err,
            ProcessorError::Outage { operation: "polling", lasted, source: BrokerError::Unreachable { .. } }
                if *lasted >= Duration::from_secs(20)
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with("polling kept failing for"),
        "{err}"
    );
    assert!(
        took >= Duration::from_secs(20) && took < Duration::from_secs(23),
        "gave up after the timeout and one backoff at most: {took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_default_outage_timeout_is_minutes() {
    assert_eq!(
        weir_strategies::DEFAULT_OUTAGE_TIMEOUT,
        Duration::from_secs(300)
    );
    let (broker, topic) = setup(1).await;
    let (consumer, _) = flaky(
        &broker,
        Faults {
            polls: u32::MAX,
            ..Faults::default()
        },
    )
    .await;
    let started = Instant::now();
    let err = recording(consumer, &topic, &Seen::default())
        .build()
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, ProcessorError::Outage { .. }), "{err:?}");
    assert!(started.elapsed() >= Duration::from_secs(300));
}

#[tokio::test(start_paused = true)]
async fn a_commit_refused_because_the_partition_moved_is_a_rebalance() {
    let (broker, topic) = setup(2).await;
    produce(&broker, &topic, 2, 0..100).await;
    let (consumer, faults) = flaky(
        &broker,
        Faults {
            moved: Some(topic.partition(0)),
            ..Faults::default()
        },
    )
    .await;
    let seen = Seen::default();
    let running = spawn(
        recording(consumer, &topic, &seen)
            .commit_policy(CommitPolicy::every(Duration::from_millis(100)))
            .build(),
    );
    let done = |c: &BTreeMap<u32, Option<u64>>| c[&0] == Some(50) && c[&1] == Some(50);
    eventually("all 100 are committed", || async {
        done(&committed(&broker, &topic, 2).await)
    })
    .await;
    let report = running.stop().await.unwrap();
    assert_eq!(faults.lock().unwrap().refused, 1);
    assert!(
        report.pipelines >= 2,
        "the refusal rebuilt the pipeline: {report:?}"
    );
    let duplicates = none_lost(&seen, 100);
    assert!(
        duplicates <= 50,
        "only partition 0's uncommitted work is read again: {duplicates}"
    );
}
