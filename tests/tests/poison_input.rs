//! Poison input: a StreamProcessor decoding MessagePack meets messages that
//! are not what it expects (random bytes, truncated MessagePack, the wrong
//! schema, a huge payload, a length prefix claiming four billion items, and
//! headers whose values are not UTF-8), on memory, Redis (one server and a
//! cluster) and Kafka. Each is an invalid message with a clear reason,
//! reaches the dead-letter topic with its original bytes and headers, and the
//! pipeline goes on with the good messages around it. On Kafka a message over
//! the producer's size limit is refused at once with a typed error, so its
//! huge payload is under it.
//!
//! Header names are `String`s in weir-core (`Headers`), so only header
//! values can carry invalid UTF-8; every backend carries them as bytes.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use weir::core::{Broker, Codec, Destination, MsgPack, Payload, Producer};
use weir::memory::MemoryBroker;
use weir_kafka::{KafkaBroker, KafkaConfig};
use weir_redis::{RedisBroker, RedisConfig};
use weir_strategies::{
    CommitPolicy, DeadLetterQueue, HEADER_OFFSET, HEADER_REASON, Pipeline, StreamProcessor,
};
use weir_testkit::servers::redis::RedisServer;
use weir_testkit::servers::redis_cluster::RedisCluster;
use weir_testkit::servers::tansu;
use weir_testkit::{collect, new_topic, subscribed, unique_name};

#[derive(Debug, Serialize, Deserialize)]
struct Order {
    id: u64,
    item: String,
}

#[derive(Serialize)]
struct Invoice {
    number: String,
    paid: bool,
}

/// A header value that is not UTF-8.
const NOT_UTF8: &[u8] = &[0xff, 0xfe, 0x80, b'x', 0xc3];

/// Deterministic pseudo-random bytes (xorshift64*).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut s = seed | 1;
    (0..len)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            (s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

fn order(id: u64) -> Payload {
    let bytes = MsgPack
        .encode(&Order {
            id,
            item: format!("item-{id}"),
        })
        .expect("orders encode");
    Payload::new(bytes)
}

/// The poison, each with what it is; the huge payload has `huge_mib` MiB.
fn poison(huge_mib: u32) -> Vec<(&'static str, Payload)> {
    let good = order(7).value;
    let mut huge = vec![0xc6]; // bin 32: MiBs of bytes, not an Order
    huge.extend_from_slice(&(huge_mib << 20).to_be_bytes());
    huge.extend(noise(3, (huge_mib as usize) << 20));
    let mut claims_too_much = vec![0xdd]; // array 32 with u32::MAX items
    claims_too_much.extend_from_slice(&u32::MAX.to_be_bytes());
    claims_too_much.extend_from_slice(&[0x01, 0xa1, b'x']);
    vec![
        ("random bytes", Payload::new(noise(1, 64))),
        ("empty", Payload::new(Bytes::new())),
        (
            "truncated msgpack",
            Payload::new(good.slice(..good.len() - 3)),
        ),
        (
            "wrong schema",
            Payload::new(
                MsgPack
                    .encode(&Invoice {
                        number: "A-1".into(),
                        paid: true,
                    })
                    .expect("encodes"),
            ),
        ),
        (
            "wrong types",
            Payload::new(MsgPack.encode(&("seven", 7u8)).expect("encodes")),
        ),
        ("huge payload", Payload::new(huge)),
        ("claims u32::MAX items", Payload::new(claims_too_much)),
        (
            "invalid UTF-8 header",
            Payload::new(noise(2, 16))
                .with_key(Bytes::from_static(&[0x00, 0xff]))
                .with_header("trace", Bytes::from_static(NOT_UTF8)),
        ),
    ]
}

/// Runs the scenario on `broker`, whose messages may be as large as
/// `huge_mib` MiB; returns nothing, asserts everything.
async fn poison_reaches_the_dead_letter_topic<B: Broker>(broker: &B, huge_mib: u32) {
    const GOOD: u64 = 200;
    let input = new_topic(broker, "poison-in", 2).await;
    let dlq = new_topic(broker, "poison-dlq", 1).await;
    let poison = poison(huge_mib);
    for (what, p) in &poison {
        assert!(
            MsgPack.decode::<Order>(&p.value).is_err(),
            "{what} is poison"
        );
    }
    // Good orders, some with a non-UTF-8 header (which is no error), with
    // the poison spread between them, all in partition 0 so the order of
    // good and bad is known.
    let producer = broker.producer().await.expect("producer");
    let p0 = Destination::Partition(input.partition(0));
    let mut batch = Vec::new();
    let mut poison_iter = poison.iter();
    for id in 0..GOOD {
        let mut good = order(id);
        if id % 10 == 0 {
            good.headers.insert("trace", Bytes::from_static(NOT_UTF8));
        }
        let dest = if id % 2 == 0 {
            p0.clone()
        } else {
            Destination::Partition(input.partition(1))
        };
        batch.push((dest, good));
        if id % 20 == 5
            && let Some((_, p)) = poison_iter.next()
        {
            batch.push((p0.clone(), p.clone()));
        }
    }
    assert!(poison_iter.next().is_none(), "every poison was sent");
    for r in producer.produce_batch(batch).await {
        r.expect("produced");
    }

    let processed = Arc::new(Mutex::new(BTreeSet::new()));
    let consumer = broker
        .consumer(
            weir::core::ConsumerConfig::builder(unique_name("poison"))
                .max_poll_records(16)
                .build()
                .expect("consumer config"),
        )
        .await
        .expect("consumer");
    let seen = Arc::clone(&processed);
    let processor = StreamProcessor::builder(consumer, [input.clone()], move |_: &_| {
        let seen = Arc::clone(&seen);
        Pipeline::new()
            .decode::<Order, _>(MsgPack)
            .map(move |o: Order| {
                assert_eq!(o.item, format!("item-{}", o.id));
                seen.lock().expect("seen").insert(o.id);
                Ok(())
            })
            .commit()
    })
    .commit_policy(CommitPolicy::every(Duration::from_millis(50)))
    .dead_letter(DeadLetterQueue::new(
        broker.producer().await.expect("dlq producer"),
        dlq.clone(),
    ))
    .build();
    let stop = processor.shutdown_handle();
    let running = tokio::spawn(processor.run());

    // Every poison reaches the dead-letter topic, as it was sent.
    let mut reader = subscribed(broker, &unique_name("dlq-reader"), &[dlq]).await;
    let letters = tokio::time::timeout(
        Duration::from_secs(30),
        collect(&mut reader, false, |s| s.messages.len() >= poison.len()),
    )
    .await
    .expect("the dead letters arrive")
    .messages;
    assert_eq!(letters.len(), poison.len());
    let mut offsets = Vec::new();
    for ((what, sent), letter) in poison.iter().zip(&letters) {
        let got = &letter.payload;
        assert!(got.value == sent.value, "{what}: the original bytes");
        assert_eq!(got.key, sent.key, "{what}: the original key");
        for (name, value) in sent.headers.iter() {
            assert_eq!(got.headers.get(name), Some(value), "{what}: header {name}");
        }
        let reason = got
            .headers
            .get(HEADER_REASON)
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .unwrap_or_default();
        assert!(
            reason.starts_with("msgpack could not decode"),
            "{what}: a clear reason, got {reason:?}"
        );
        eprintln!("{what}: {}", &reason[..reason.len().min(160)]);
        let offset = got.headers.get(HEADER_OFFSET).expect("the offset header");
        offsets.push(String::from_utf8_lossy(offset).into_owned());
    }
    let distinct: BTreeSet<_> = offsets.iter().collect();
    assert_eq!(distinct.len(), poison.len(), "one letter per poison");

    // The pipeline went on: every good order was processed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while processed.lock().expect("seen").len() < GOOD as usize {
        assert!(
            tokio::time::Instant::now() < deadline,
            "good orders processed: {}",
            processed.lock().expect("seen").len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.shutdown();
    let report = running
        .await
        .expect("joins")
        .expect("the processor stops cleanly");
    assert_eq!(report.invalid, poison.len() as u64, "{report:?}");
    assert_eq!(report.dead_lettered, poison.len() as u64, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_input_on_memory_is_dead_lettered_with_its_bytes_and_the_pipeline_goes_on() {
    poison_reaches_the_dead_letter_topic(&MemoryBroker::new(), 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_input_on_redis_is_dead_lettered_with_its_bytes_and_the_pipeline_goes_on() {
    let server = RedisServer::start();
    poison_reaches_the_dead_letter_topic(&redis_at(server.url()).await, 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_input_on_a_redis_cluster_is_dead_lettered_with_its_bytes_and_the_pipeline_goes_on()
{
    let cluster = RedisCluster::start();
    poison_reaches_the_dead_letter_topic(&redis_at(cluster.url()).await, 8).await;
}

async fn redis_at(url: String) -> RedisBroker {
    RedisBroker::connect(
        RedisConfig::builder(url)
            .block_time(Duration::from_millis(50))
            .build()
            .expect("config"),
    )
    .await
    .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_input_on_kafka_is_dead_lettered_with_its_bytes_and_the_pipeline_goes_on() {
    let config = KafkaConfig::builder(tansu::bootstrap())
        .fast_group_joins()
        .build()
        .expect("config");
    let broker = KafkaBroker::new(config);
    // Kafka's producers take messages up to a limit (4 MiB here): larger
    // poison never gets in, with a typed error naming the topic and sizes.
    let topic = new_topic(&broker, "poison-too-big", 1).await;
    let producer = broker.producer().await.expect("producer");
    let refused = producer
        .produce(
            Destination::Topic(topic.clone()),
            poison(8)
                .into_iter()
                .find(|(what, _)| *what == "huge payload")
                .map(|(_, p)| p)
                .expect("the huge payload"),
        )
        .await;
    match refused {
        Err(weir::core::BrokerError::PayloadTooLarge {
            topic: t,
            size,
            limit,
        }) => {
            assert_eq!(t, topic);
            assert!(size > limit, "{size} over {limit}");
        }
        other => panic!("an 8 MiB message on Kafka: {other:?}"),
    }
    poison_reaches_the_dead_letter_topic(&broker, 3).await;
}
