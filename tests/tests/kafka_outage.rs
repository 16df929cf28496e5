//! A StreamProcessor and a producer ride through a Kafka broker outage: the
//! broker (tansu on a free loopback port) is frozen with `SIGSTOP` while
//! messages flow, so every request hangs and times out, and let go again
//! seconds later. Neither the processor nor the producer is restarted:
//! every message produced is processed, none is lost, duplicates come only
//! from the uncommitted window, and the processor stops cleanly.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weir::core::{Broker, Destination, Payload, Producer};
use weir_kafka::{KafkaBroker, KafkaConfig};
use weir_strategies::{CommitPolicy, Pipeline, StreamProcessor};
use weir_testkit::servers::tansu;
use weir_testkit::{new_topic, unique_name};

/// How long the broker stays frozen: longer than librdkafka's request
/// timeouts here, so calls fail and are tried again.
const OUTAGE: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processor_and_a_producer_ride_through_a_frozen_kafka_broker() {
    const BEFORE: u64 = 200;
    const DURING: u64 = 200;
    let server = tansu::start();
    let config = KafkaConfig::builder(server.bootstrap())
        .fast_group_joins()
        .set_producer("message.timeout.ms", "60000")
        .set_consumer("socket.timeout.ms", "2000")
        .build()
        .expect("config");
    let broker = KafkaBroker::new(config);
    let topic = new_topic(&broker, "outage", 2).await;
    let producer = broker.producer().await.expect("producer");
    let send = |from: u64, to: u64| {
        let (producer, topic) = (producer.clone(), topic.clone());
        async move {
            for i in from..to {
                producer
                    .produce(
                        Destination::Topic(topic.clone()),
                        Payload::new(i.to_string()).with_key(i.to_string()),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("message {i} was not produced: {e}"));
            }
        }
    };
    send(0, BEFORE).await;

    let seen: Arc<Mutex<BTreeMap<u64, u32>>> = Arc::default();
    let consumer = broker
        .consumer(weir::core::ConsumerConfig::new(unique_name("outage")))
        .await
        .expect("consumer");
    let counted = Arc::clone(&seen);
    let processor = StreamProcessor::builder(consumer, [topic.clone()], move |_: &_| {
        let counted = Arc::clone(&counted);
        Pipeline::new()
            .map(move |p: Payload| {
                let i: u64 = std::str::from_utf8(&p.value)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| weir_strategies::TaskError::invalid("not a number"))?;
                *counted.lock().expect("seen").entry(i).or_default() += 1;
                Ok(())
            })
            .commit()
    })
    .commit_policy(CommitPolicy::every(Duration::from_millis(100)))
    .build();
    let stop = processor.shutdown_handle();
    let running = tokio::spawn(processor.run());
    let processed = || seen.lock().expect("seen").len() as u64;
    wait_for(|| processed() >= BEFORE / 2, "half the first messages").await;

    // The outage: messages keep being produced into it.
    server.pause();
    let during = tokio::spawn(send(BEFORE, BEFORE + DURING));
    tokio::time::sleep(OUTAGE).await;
    // The outage was real: nothing produced into it got through.
    assert!(!during.is_finished(), "produced to a frozen broker");
    assert!(processed() <= BEFORE, "processed from a frozen broker");
    server.resume();
    during.await.expect("the producer rode through");

    wait_for(|| processed() == BEFORE + DURING, "every message").await;
    stop.shutdown();
    running
        .await
        .expect("joins")
        .expect("the processor rode through the outage and stops cleanly");
    let seen = seen.lock().expect("seen");
    let missing: Vec<u64> = (0..BEFORE + DURING)
        .filter(|i| !seen.contains_key(i))
        .collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    let again: u32 = seen.values().map(|n| n - 1).sum();
    assert!(
        u64::from(again) <= BEFORE + DURING,
        "{again} messages processed again: more than the uncommitted window"
    );
}

/// Waits (real time: the broker is a real process) until `done`, up to 60 s.
async fn wait_for(done: impl Fn() -> bool, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
