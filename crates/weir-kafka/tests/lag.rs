//! `Consumer::lag` on Kafka: librdkafka's cached high watermark (from its
//! fetch responses, no request) minus the consumer's position.

use std::time::Duration;

use weir_core::{Broker, Consumer, ConsumerConfig, ConsumerEvent, Partition};
mod common;

use common::broker;
use weir_kafka::KafkaConsumer;
use weir_testkit::{new_topic, produce_numbered, unique_name};

/// Polls until a batch of messages arrives; returns how many it held.
async fn next_batch(consumer: &mut KafkaConsumer) -> usize {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), consumer.poll())
            .await
            .expect("an event within 30 s")
            .expect("poll");
        if let ConsumerEvent::Messages(batch) = event {
            return batch.len();
        }
    }
}

fn lag_and_position(consumer: &KafkaConsumer, p: &Partition) -> (Option<u64>, u64) {
    let position = consumer
        .position(p)
        .expect("a position once messages arrived");
    (consumer.lag(p), position)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_counts_the_messages_past_the_position() {
    let broker = broker();
    let topic = new_topic(&broker, "lag", 1).await;
    let p = topic.partition(0);
    let producer = broker.producer().await.expect("producer");
    produce_numbered(&producer, p.clone().into(), "m", 10).await;

    let mut consumer = broker
        .consumer(
            ConsumerConfig::builder(unique_name("g"))
                .max_poll_records(3)
                .build()
                .expect("a valid consumer config"),
        )
        .await
        .expect("consumer");
    assert_eq!(consumer.lag(&p), None, "not owned yet: unknown");
    consumer
        .subscribe(std::slice::from_ref(&topic))
        .await
        .expect("subscribe");

    let mut read = next_batch(&mut consumer).await;
    let (lag, position) = lag_and_position(&consumer, &p);
    assert_eq!(position, read as u64);
    assert_eq!(lag, Some(10 - position), "after {read} of 10");
    assert!(
        position < 10,
        "max_poll_records keeps the first batch short"
    );

    while read < 10 {
        read += next_batch(&mut consumer).await;
    }
    assert_eq!(lag_and_position(&consumer, &p), (Some(0), 10));
    consumer.close().await.expect("close");
}
