//! A consumer with a backlog on every partition it owns serves them all:
//! reads interleave the partitions, none starves.

use std::collections::BTreeMap;
use std::time::Duration;

use weir_core::{Broker, Consumer, ConsumerConfig, ConsumerEvent};
mod common;

use common::broker;
use weir_testkit::{new_topic, produce_numbered, unique_name};

const PARTITIONS: u32 = 4;
/// The backlog on each partition.
const BACKLOG: usize = 5_000;
/// The window: the first messages read.
const WINDOW: usize = 2_000;
/// What handling one batch costs the consumer: long enough that every
/// partition's first fetch arrives within the window (they come in turns,
/// milliseconds apart, as their start offsets are looked up).
const WORK: Duration = Duration::from_millis(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_on_every_partition_is_read_in_turns() {
    let broker = broker();
    let topic = new_topic(&broker, "fair", PARTITIONS).await;
    let producer = broker.producer().await.expect("producer");
    for index in 0..PARTITIONS {
        produce_numbered(&producer, topic.partition(index).into(), "m", BACKLOG).await;
    }

    let mut consumer = broker
        .consumer(
            ConsumerConfig::builder(unique_name("g"))
                .max_poll_records(100)
                .build()
                .expect("a valid consumer config"),
        )
        .await
        .expect("consumer");
    consumer
        .subscribe(std::slice::from_ref(&topic))
        .await
        .expect("subscribe");

    let mut seen: BTreeMap<u32, usize> = (0..PARTITIONS).map(|i| (i, 0)).collect();
    let mut read = 0;
    let start = std::time::Instant::now();
    let mut first: BTreeMap<u32, Duration> = BTreeMap::new();
    while read < WINDOW {
        let event = tokio::time::timeout(Duration::from_secs(30), consumer.poll())
            .await
            .expect("an event within 30 s")
            .expect("poll");
        if let ConsumerEvent::Messages(batch) = event {
            for m in batch.iter().take(WINDOW - read) {
                *seen.entry(m.partition.index).or_default() += 1;
                first
                    .entry(m.partition.index)
                    .or_insert_with(|| start.elapsed());
            }
            read += batch.len().min(WINDOW - read);
            tokio::time::sleep(WORK).await;
        }
    }
    let share = WINDOW / PARTITIONS as usize;
    for (index, n) in &seen {
        assert!(
            (share / 2..=share * 2).contains(n),
            "partition {index}: {n} of the first {WINDOW} messages (share {share}); all: {seen:?}, first seen after {first:?}"
        );
    }
    consumer.close().await.expect("close");
}
