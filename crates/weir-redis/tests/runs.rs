//! A produce batch's messages to one partition share stream entries (runs):
//! offsets stay dense, and seeks, commits and trimming work per message,
//! also inside an entry.

mod common;

use common::TestBroker;
use weir_core::{Broker, CommitRequest, Consumer, Destination, Partition, Producer, Topic};
use weir_redis::RedisProducer;
use weir_testkit::servers::redis::RedisServer;
use weir_testkit::{Seen, collect, new_topic, numbered, produce_numbered, subscribed, unique_name};

/// A topic of one partition, and a producer.
async fn one_partition(broker: &TestBroker, prefix: &str) -> (Topic, Partition, RedisProducer) {
    let topic = new_topic(broker, prefix, 1).await;
    let p = topic.partition(0);
    (topic, p, broker.producer().await.expect("producer"))
}

/// Each message's offset and value, in arrival order.
fn offsets_and_values(seen: &Seen) -> Vec<(u64, String)> {
    let values = seen.values();
    seen.messages.iter().map(|m| m.offset).zip(values).collect()
}

/// How many entries a partition's stream holds.
async fn entries(broker: &TestBroker, topic: &Topic) -> u64 {
    broker
        .raw(redis::cmd("XLEN").arg(common::stream_key(topic, 0)))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_batch_is_split_into_runs_with_dense_offsets() {
    let broker = TestBroker::start().await;
    let (topic, p, producer) = one_partition(&broker, "runs").await;
    produce_numbered(&producer, p.clone().into(), "single", 1).await;
    // 1024 messages at most per run: 2500 make three entries.
    let batch = (0..2500)
        .map(|i| (Destination::from(p.clone()), numbered("m", i)))
        .collect();
    let offsets: Vec<u64> = producer
        .produce_batch(batch)
        .await
        .into_iter()
        .map(|r| r.expect("produced").offset)
        .collect();
    assert_eq!(offsets, (1..2501).collect::<Vec<_>>());
    assert_eq!(entries(&broker, &topic).await, 4);

    let mut consumer = subscribed(&broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    let seen = collect(&mut consumer, false, |s| s.messages.len() >= 2501).await;
    let got: Vec<u64> = seen.messages.iter().map(|m| m.offset).collect();
    assert_eq!(got, (0..2501).collect::<Vec<_>>());
    assert_eq!(seen.values()[2500], "m-2499");
    consumer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeks_and_commits_land_inside_an_entry() {
    let broker = TestBroker::start().await;
    let (topic, p, producer) = one_partition(&broker, "inside").await;
    produce_numbered(&producer, p.clone().into(), "m", 10).await;
    assert_eq!(entries(&broker, &topic).await, 1);
    let group = unique_name("g");

    let mut first = subscribed(&broker, &group, std::slice::from_ref(&topic)).await;
    collect(&mut first, false, |s| !s.assigned.is_empty()).await;
    first.seek(&p, 6).expect("seek");
    let seen = collect(&mut first, false, |s| s.messages.len() >= 4).await;
    assert_eq!(seen.values(), ["m-6", "m-7", "m-8", "m-9"]);
    first.seek(&p, 3).expect("seek back");
    let seen = collect(&mut first, false, |s| s.messages.len() >= 7).await;
    assert_eq!(seen.messages[0].offset, 3);
    assert_eq!(seen.messages.len(), 7);
    first
        .commit(&CommitRequest::from_iter([(p.clone(), 5)]))
        .await
        .expect("commit");
    first.close().await.expect("close");

    // The next member starts at the committed offset, inside the entry.
    let mut second = subscribed(&broker, &group, std::slice::from_ref(&topic)).await;
    let seen = collect(&mut second, false, |s| s.messages.len() >= 5).await;
    assert_eq!(seen.assigned.last().and_then(|a| a.get(&p)), Some(&5));
    assert_eq!(seen.values(), ["m-5", "m-6", "m-7", "m-8", "m-9"]);
    second.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trimming_keeps_the_newest_messages_and_whole_entries() {
    let broker = TestBroker::start_with(RedisServer::builder(), |c| c.max_stream_length(100)).await;
    let (topic, p, producer) = one_partition(&broker, "trim").await;
    // 400 entries of 3 messages each.
    for round in 0..400 {
        produce_numbered(&producer, p.clone().into(), &format!("r{round}"), 3).await;
    }
    let left = entries(&broker, &topic).await;
    assert!(left < 400, "the stream was trimmed: {left} entries");
    let mut consumer = subscribed(&broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    let seen = collect(&mut consumer, false, |s| {
        s.messages.last().is_some_and(|m| m.offset == 1199)
    })
    .await;
    let start = seen.messages[0].offset;
    assert!(
        start <= 1100,
        "at least the newest 100 are kept (from {start})"
    );
    assert_eq!(start % 3, 0, "reading starts at an entry's first message");
    let got: Vec<u64> = seen.messages.iter().map(|m| m.offset).collect();
    assert_eq!(got, (start..1200).collect::<Vec<_>>());
    assert_eq!(seen.values()[0], format!("r{}-0", start / 3));
    consumer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_single_produces_share_entries_and_get_their_own_offsets() {
    let broker = TestBroker::start().await;
    let (topic, p, producer) = one_partition(&broker, "gather").await;
    // A call given up on at once leaves the producer working.
    let _ = tokio::time::timeout(
        std::time::Duration::ZERO,
        producer.produce(p.clone().into(), numbered("gone", 0)),
    )
    .await;
    let calls = (0..300).map(|i| {
        let producer = producer.clone();
        let p = p.clone();
        tokio::spawn(async move {
            let produced = producer
                .produce(p.into(), numbered("c", i))
                .await
                .expect("produced");
            (produced.offset, format!("c-{i}"))
        })
    });
    let mut produced = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        produced.push(call.await.expect("task"));
    }
    produced.sort();
    let stored = entries(&broker, &topic).await;
    assert!(stored < 300, "300 calls went in {stored} entries");

    let mut consumer = subscribed(&broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    let last = produced.last().map(|(o, _)| *o).expect("some");
    let seen = collect(&mut consumer, false, |s| {
        s.messages.last().is_some_and(|m| m.offset == last)
    })
    .await;
    let got = offsets_and_values(&seen);
    let offsets: Vec<u64> = got.iter().map(|(o, _)| *o).collect();
    assert_eq!(offsets, (0..=last).collect::<Vec<_>>(), "dense, in order");
    // Each call's offset holds its message (the call given up on may be stored too).
    let calls: Vec<(u64, String)> = got.into_iter().filter(|(_, v)| v != "gone-0").collect();
    assert_eq!(calls, produced);
    consumer.close().await.expect("close");
}

/// A lone call appends its message itself; calls made meanwhile queue
/// behind it. Given up on while its append is on its way, it hands them to
/// the producer's append task: none waits forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_produce_given_up_on_hands_the_calls_queued_behind_it_on() {
    let broker = TestBroker::start().await;
    let (topic, p, producer) = one_partition(&broker, "hand-over").await;
    // The server holds writes, so the lone call's append stays on its way
    // however slowly this test runs.
    let _: () = broker
        .raw(redis::cmd("CLIENT").arg("PAUSE").arg(10_000).arg("WRITE"))
        .await;
    let mut lone = Box::pin(producer.produce(p.clone().into(), numbered("lone", 0)));
    assert!(
        futures::poll!(lone.as_mut()).is_pending(),
        "its append waits for the server"
    );
    let mut queued: Vec<_> = (0..50)
        .map(|i| Box::pin(producer.produce(p.clone().into(), numbered("q", i))))
        .collect();
    for call in &mut queued {
        assert!(futures::poll!(call.as_mut()).is_pending(), "queued");
    }
    drop(lone);
    let _: () = broker.raw(redis::cmd("CLIENT").arg("UNPAUSE")).await;
    let mut produced = Vec::new();
    for (i, call) in queued.into_iter().enumerate() {
        let done = tokio::time::timeout(std::time::Duration::from_secs(10), call)
            .await
            .expect("a queued call is appended once the lone one is given up on")
            .expect("produced");
        produced.push((done.offset, format!("q-{i}")));
    }
    let mut consumer = subscribed(&broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    let last = produced.last().map(|(o, _)| *o).expect("some");
    let seen = collect(&mut consumer, false, |s| {
        s.messages.last().is_some_and(|m| m.offset == last)
    })
    .await;
    // Each queued call's offset holds its message (the lone one may be stored too).
    let stored: Vec<(u64, String)> = offsets_and_values(&seen)
        .into_iter()
        .filter(|(_, v)| v != "lone-0")
        .collect();
    assert_eq!(stored, produced);
    consumer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_entries_and_missing_offsets_are_passed_over_not_stuck_on() {
    let broker = TestBroker::start().await;
    let topic = new_topic(&broker, "damaged", 1).await;
    let p = topic.partition(0);
    let (stream, counter) = (common::stream_key(&topic, 0), common::end_key(&topic, 0));
    let producer = broker.producer().await.expect("producer");
    produce_numbered(&producer, p.clone().into(), "a", 3).await;
    // Offsets 3 and 4: an entry whose messages do not decode.
    let _: u64 = broker.raw(redis::cmd("INCRBY").arg(&counter).arg(2)).await;
    let _: String = broker
        .raw(
            redis::cmd("XADD")
                .arg(&stream)
                .arg("0-5")
                .arg("n")
                .arg(2)
                .arg("m")
                .arg("not a run"),
        )
        .await;
    produce_numbered(&producer, p.clone().into(), "b", 2).await;
    // Offsets 7 to 9 never written.
    let _: u64 = broker.raw(redis::cmd("INCRBY").arg(&counter).arg(3)).await;
    produce_numbered(&producer, p.clone().into(), "c", 1).await;

    let mut consumer = subscribed(&broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    let seen = collect(&mut consumer, true, |s| {
        s.messages.last().is_some_and(|m| m.offset == 10)
    })
    .await;
    let got = offsets_and_values(&seen);
    let expected: Vec<(u64, String)> = [
        (0, "a-0"),
        (1, "a-1"),
        (2, "a-2"),
        (5, "b-0"),
        (6, "b-1"),
        (10, "c-0"),
    ]
    .into_iter()
    .map(|(o, v)| (o, v.to_owned()))
    .collect();
    assert_eq!(got, expected);
    consumer.close().await.expect("close");
}
