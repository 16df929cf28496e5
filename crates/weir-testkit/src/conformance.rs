//! The conformance scenarios. Each takes a broker handle, makes its own
//! uniquely named topics and groups, and panics with a clear message when the
//! backend departs from the model.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use weir_core::{
    Admin, Broker, BrokerError, BrokerValue, CommitRequest, Consumer, ConsumerEvent, Destination,
    Headers, Payload, Polled, Producer, Topic,
};

use crate::member::{RunningMember, wait_until};
use crate::support::{
    collect, new_topic, numbered, poll_quietly, produce_numbered, subscribed, unique_name,
};

/// Messages of each partition arrive in offset order, with dense offsets
/// starting at 0, carrying what was produced in that order.
pub async fn per_partition_order<B: Broker>(broker: &B) {
    let topic = new_topic(broker, "order", 3).await;
    let producer = broker.producer().await.expect("producer");
    for i in 0..3 {
        produce_numbered(&producer, topic.partition(i).into(), &format!("p{i}"), 50).await;
    }
    let mut c = subscribed(broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    let seen = collect(&mut c, false, |s| s.messages.len() >= 150).await;
    for i in 0..3 {
        let p = topic.partition(i);
        let mine: Vec<_> = seen.messages.iter().filter(|m| m.partition == p).collect();
        assert_eq!(
            mine.len(),
            50,
            "partition {p} delivered {} of 50",
            mine.len()
        );
        for (n, m) in mine.iter().enumerate() {
            assert_eq!(m.offset, n as u64, "offsets of {p} are dense and in order");
            assert_eq!(
                &m.payload.value[..],
                format!("p{i}-{n}").as_bytes(),
                "payload order of {p}"
            );
        }
    }
    c.close().await.expect("close");
}

/// Reading with `poll_batches` (lent record batches, where the backend
/// lends them) delivers exactly what `poll` delivers: the same messages,
/// offsets, keys, headers and times, per partition in order, in batches
/// that are never empty; and committing what was read works.
pub async fn lent_batches_match_what_poll_delivers<B: Broker>(broker: &B) {
    // More than the memory broker's chunk (1024) per partition, so that
    // both full chunks and the one being filled are read.
    const EACH: usize = 1100;
    let topic = new_topic(broker, "lent", 2).await;
    let producer = broker.producer().await.expect("producer");
    for i in 0..2 {
        let batch = (0..EACH)
            .map(|n| {
                let payload = numbered(&format!("p{i}"), n)
                    .with_key(format!("k{}", n % 3))
                    .with_header("n", n.to_string());
                (topic.partition(i).into(), payload)
            })
            .collect();
        for r in producer.produce_batch(batch).await {
            r.expect("produced");
        }
    }
    let topics = std::slice::from_ref(&topic);
    let mut owned = subscribed(broker, &unique_name("owned"), topics).await;
    let by_poll = collect(&mut owned, false, |s| s.messages.len() >= 2 * EACH).await;
    owned.close().await.expect("close");

    let mut lending = subscribed(broker, &unique_name("lent"), topics).await;
    let mut by_batches: Vec<BrokerValue<Payload>> = Vec::new();
    let deadline = tokio::time::Instant::now() + crate::WAIT;
    while by_batches.len() < 2 * EACH {
        let polled = tokio::time::timeout_at(deadline, lending.poll_batches())
            .await
            .unwrap_or_else(|_| panic!("timed out with {} lent messages", by_batches.len()))
            .expect("poll_batches works");
        let read = match polled {
            Polled::Batches(batches) => {
                assert!(!batches.is_empty(), "a poll lends at least one batch");
                assert!(
                    batches.iter().all(|b| !b.is_empty()),
                    "no lent batch is empty"
                );
                batches.iter().flat_map(|b| b.to_messages()).collect()
            }
            // A backend that lends nothing polls as `poll` does.
            Polled::Event(ConsumerEvent::Messages(m)) => m,
            Polled::Event(_) => continue,
        };
        let ends = read.iter().collect();
        lending
            .commit(&ends)
            .await
            .expect("committing what was read");
        by_batches.extend(read);
    }
    for i in 0..2 {
        let p = topic.partition(i);
        let fields = |ms: &[BrokerValue<Payload>]| -> Vec<_> {
            ms.iter()
                .filter(|m| m.partition == p)
                .map(|m| (m.offset, m.payload.clone(), m.timestamp))
                .collect()
        };
        let lent = fields(&by_batches);
        assert_eq!(
            lent.len(),
            EACH,
            "partition {p}: {} of {EACH} lent",
            lent.len()
        );
        assert_eq!(
            lent,
            fields(&by_poll.messages),
            "partition {p}: lent as polled"
        );
    }
    let committed = lending
        .committed(&[topic.partition(0), topic.partition(1)])
        .await
        .expect("committed");
    assert!(
        committed.values().all(|c| *c == Some(EACH as u64)),
        "{committed:?}"
    );
    lending.close().await.expect("close");
}

/// A consumer that committed and left is followed by one that starts exactly
/// at the committed offset.
pub async fn commit_then_resume_after_restart<B: Broker>(broker: &B) {
    let topic = new_topic(broker, "resume", 1).await;
    let p = topic.partition(0);
    let producer = broker.producer().await.expect("producer");
    produce_numbered(&producer, p.clone().into(), "m", 20).await;
    let group = unique_name("g");

    let mut first = subscribed(broker, &group, std::slice::from_ref(&topic)).await;
    let before = first
        .committed(std::slice::from_ref(&p))
        .await
        .expect("committed");
    assert_eq!(before.get(&p), Some(&None), "nothing committed yet for {p}");
    collect(&mut first, false, |s| s.messages.len() >= 10).await;
    first
        .commit(&CommitRequest::from_iter([(p.clone(), 10)]))
        .await
        .expect("commit");
    let after = first
        .committed(std::slice::from_ref(&p))
        .await
        .expect("committed");
    assert_eq!(after.get(&p), Some(&Some(10)), "the commit is visible");
    first.close().await.expect("close");
    drop(first);

    let mut second = subscribed(broker, &group, std::slice::from_ref(&topic)).await;
    let seen = collect(&mut second, false, |s| s.messages.len() >= 10).await;
    let offsets: Vec<u64> = seen.messages.iter().map(|m| m.offset).collect();
    assert_eq!(
        offsets,
        (10..20).collect::<Vec<_>>(),
        "resumes at the committed offset"
    );
    second.close().await.expect("close");
}

/// What a consumer received but never committed comes back to the next member.
pub async fn uncommitted_messages_are_redelivered<B: Broker>(broker: &B) {
    let topic = new_topic(broker, "redeliver", 1).await;
    let producer = broker.producer().await.expect("producer");
    produce_numbered(&producer, topic.partition(0).into(), "m", 10).await;
    let group = unique_name("g");
    let mut first = subscribed(broker, &group, std::slice::from_ref(&topic)).await;
    collect(&mut first, false, |s| s.messages.len() >= 10).await;
    drop(first); // a crash: nothing committed

    let mut second = subscribed(broker, &group, std::slice::from_ref(&topic)).await;
    let seen = collect(&mut second, false, |s| s.messages.len() >= 10).await;
    assert_eq!(
        seen.messages[0].offset, 0,
        "redelivery starts at the last commit"
    );
    second.close().await.expect("close");
}

/// Two members of one group split the partitions; when one leaves the other
/// takes over, and no message is lost.
pub async fn group_members_split_partitions_and_take_over<B: Broker>(broker: &B) {
    let topic = new_topic(broker, "split", 4).await;
    let producer = broker.producer().await.expect("producer");
    let group = unique_name("g");
    let all: BTreeSet<_> = (0..4).map(|i| topic.partition(i)).collect();

    let a = RunningMember::spawn(
        subscribed(broker, &group, std::slice::from_ref(&topic)).await,
        true,
    );
    let b = RunningMember::spawn(
        subscribed(broker, &group, std::slice::from_ref(&topic)).await,
        true,
    );
    wait_until("both members own partitions", || {
        let (x, y) = (a.assignment(), b.assignment());
        !x.is_empty()
            && !y.is_empty()
            && x.is_disjoint(&y)
            && x.union(&y).cloned().collect::<BTreeSet<_>>() == all
    })
    .await;

    for i in 0..4 {
        produce_numbered(
            &producer,
            topic.partition(i).into(),
            &format!("one-{i}"),
            25,
        )
        .await;
    }
    wait_until("the first 100 messages arrive", || {
        a.received().len() + b.received().len() >= 100
    })
    .await;
    let (from_a, from_b) = (a.received(), b.received());
    assert!(
        !from_a.is_empty() && !from_b.is_empty(),
        "both members work"
    );
    let a_parts: BTreeSet<_> = from_a.iter().map(|m| m.partition.clone()).collect();
    let b_parts: BTreeSet<_> = from_b.iter().map(|m| m.partition.clone()).collect();
    assert!(
        a_parts.is_disjoint(&b_parts),
        "no partition is read by both members at once"
    );

    let from_a = a.stop().await;
    wait_until("the survivor owns every partition", || {
        b.assignment() == all
    })
    .await;
    for i in 0..4 {
        produce_numbered(
            &producer,
            topic.partition(i).into(),
            &format!("two-{i}"),
            25,
        )
        .await;
    }
    wait_until("the survivor reads the second round", || {
        b.received()
            .iter()
            .filter(|m| m.payload.value.starts_with(b"two-"))
            .count()
            >= 100
    })
    .await;
    assert_eq!(b.error(), None);

    let mut got: BTreeSet<(u32, u64)> = from_a
        .iter()
        .map(|m| (m.partition.index, m.offset))
        .collect();
    got.extend(b.received().iter().map(|m| (m.partition.index, m.offset)));
    for i in 0..4 {
        for o in 0..50 {
            assert!(
                got.contains(&(i, o)),
                "message {topic}/{i} offset {o} was lost"
            );
        }
    }
    b.stop().await;
}

/// A paused partition delivers nothing until resumed; the others go on.
pub async fn pause_and_resume<B: Broker>(broker: &B) {
    let topic = new_topic(broker, "pause", 2).await;
    let (p0, p1) = (topic.partition(0), topic.partition(1));
    let producer = broker.producer().await.expect("producer");
    let mut c = subscribed(broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    collect(&mut c, false, |s| {
        s.assigned.iter().map(BTreeMap::len).sum::<usize>() >= 2
    })
    .await;
    c.pause(std::slice::from_ref(&p0)).expect("pause");
    assert_eq!(c.paused(), BTreeSet::from([p0.clone()]));
    produce_numbered(&producer, p0.clone().into(), "zero", 5).await;
    produce_numbered(&producer, p1.clone().into(), "one", 5).await;

    let seen = collect(&mut c, false, |s| s.messages.len() >= 5).await;
    let more = poll_quietly(&mut c, Duration::from_millis(500)).await;
    assert!(
        seen.messages
            .iter()
            .chain(more.iter())
            .all(|m| m.partition == p1),
        "a paused partition delivered messages"
    );
    c.resume(std::slice::from_ref(&p0)).expect("resume");
    assert!(c.paused().is_empty());
    let seen = collect(&mut c, false, |s| s.messages.len() >= 5).await;
    assert!(seen.messages.iter().all(|m| m.partition == p0));
    c.close().await.expect("close");
}

/// Seeking moves the read position back and forth.
pub async fn seek_moves_the_position<B: Broker>(broker: &B) {
    let topic = new_topic(broker, "seek", 1).await;
    let p = topic.partition(0);
    let producer = broker.producer().await.expect("producer");
    produce_numbered(&producer, p.clone().into(), "m", 10).await;
    let mut c = subscribed(broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    collect(&mut c, false, |s| s.messages.len() >= 10).await;
    c.seek(&p, 3).expect("seek back");
    let seen = collect(&mut c, false, |s| s.messages.len() >= 7).await;
    assert_eq!(
        seen.messages[0].offset, 3,
        "reading restarts at the sought offset"
    );
    assert_eq!(&seen.messages[0].payload.value[..], b"m-3");
    c.seek(&p, 8).expect("seek forward");
    let seen = collect(&mut c, false, |s| s.messages.len() >= 2).await;
    assert_eq!(
        seen.messages.iter().map(|m| m.offset).collect::<Vec<_>>(),
        vec![8, 9]
    );
    let other = Topic::new(unique_name("never-assigned")).partition(0);
    assert!(matches!(
        c.seek(&other, 0),
        Err(BrokerError::NotAssigned { .. })
    ));
    c.close().await.expect("close");
}

/// Keys, headers, an empty value and a 1 MiB binary value arrive unchanged.
pub async fn headers_and_binary_payloads_round_trip<B: Broker>(broker: &B) {
    let topic = new_topic(broker, "bytes", 1).await;
    let p = topic.partition(0);
    let producer = broker.producer().await.expect("producer");
    let big: Vec<u8> = (0..(1usize << 20)).map(|i| (i * 31 % 251) as u8).collect();
    let headers = Headers::new()
        .with("trace", "abc")
        .with("binary", Bytes::from_static(&[0, 255, 1, 254]));
    let sent = vec![
        Payload::new(Bytes::new())
            .with_key("empty")
            .with_headers(headers.clone()),
        Payload::new(big).with_key(Bytes::from_static(&[0xff, 0x00])),
        Payload::new("plain"),
    ];
    for payload in &sent {
        let produced = producer
            .produce(p.clone().into(), payload.clone())
            .await
            .expect("produce");
        assert_eq!(produced.partition, p);
    }
    let mut c = subscribed(broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    let seen = collect(&mut c, false, |s| s.messages.len() >= 3).await;
    for (got, want) in seen.messages.iter().zip(&sent) {
        assert_eq!(got.payload.key, want.key, "key at offset {}", got.offset);
        assert_eq!(
            got.payload.value.len(),
            want.value.len(),
            "value length at offset {}",
            got.offset
        );
        assert!(
            got.payload.value == want.value,
            "value bytes at offset {}",
            got.offset
        );
        assert_eq!(
            got.payload.headers, want.headers,
            "headers at offset {}",
            got.offset
        );
    }
    c.close().await.expect("close");
}

/// Producing to or subscribing to a topic that does not exist is a clear error naming it.
pub async fn unknown_topic_is_a_clear_error<B: Broker>(broker: &B) {
    let topic = Topic::new(unique_name("missing"));
    let producer = broker.producer().await.expect("producer");
    let err = producer
        .produce(topic.clone().into(), Payload::new("x"))
        .await
        .expect_err("producing to a missing topic fails");
    assert!(
        matches!(&err, BrokerError::UnknownTopic { topic: t } if *t == topic),
        "got {err:?}"
    );
    assert!(
        err.to_string().contains(topic.as_str()),
        "the error names the topic: {err}"
    );
    let mut c = broker
        .consumer(weir_core::ConsumerConfig::new(unique_name("g")))
        .await
        .expect("consumer");
    let err = c
        .subscribe(std::slice::from_ref(&topic))
        .await
        .expect_err("subscribing to a missing topic fails");
    assert!(
        matches!(&err, BrokerError::UnknownTopic { .. }),
        "got {err:?}"
    );
}

/// Producers on several tasks at once lose nothing, and offsets stay dense.
pub async fn concurrent_producers_lose_nothing<B: Broker>(broker: &B) {
    let topic = new_topic(broker, "concurrent", 3).await;
    let mut tasks = Vec::new();
    for t in 0..4 {
        let producer = broker.producer().await.expect("producer");
        let topic = topic.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..250 {
                let payload = Payload::new(format!("t{t}-{i}")).with_key(format!("k{}", i % 7));
                producer
                    .produce(Destination::Topic(topic.clone()), payload)
                    .await
                    .expect("produce");
            }
        }));
    }
    for t in tasks {
        t.await.expect("producer task");
    }
    let mut c = subscribed(broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    let seen = collect(&mut c, false, |s| s.messages.len() >= 1000).await;
    let values: BTreeSet<String> = seen.values().into_iter().collect();
    assert_eq!(
        values.len(),
        1000,
        "every produced message arrives exactly once"
    );
    let mut per_partition: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for m in &seen.messages {
        per_partition
            .entry(m.partition.index)
            .or_default()
            .push(m.offset);
    }
    for (i, offsets) in per_partition {
        assert_eq!(
            offsets,
            (0..offsets.len() as u64).collect::<Vec<_>>(),
            "offsets of partition {i}"
        );
    }
    c.close().await.expect("close");
}

/// The same key always lands on the same partition.
pub async fn same_key_same_partition<B: Broker>(broker: &B) {
    let topic = new_topic(broker, "keys", 4).await;
    let producer = broker.producer().await.expect("producer");
    let mut where_: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    for i in 0..40 {
        let key = format!("key-{}", i % 5);
        let out = producer
            .produce(
                topic.clone().into(),
                Payload::new("v").with_key(key.clone()),
            )
            .await
            .expect("produce");
        where_.entry(key).or_default().insert(out.partition.index);
    }
    for (key, parts) in where_ {
        assert_eq!(parts.len(), 1, "key {key} went to partitions {parts:?}");
    }
}

/// A message carries the time it was produced at: not before the call (but
/// for the millisecond a backend may round down to), not after it returned
/// (but for that millisecond). Single calls and a batch alike.
pub async fn messages_carry_the_time_they_were_produced<B: Broker>(broker: &B) {
    let topic = new_topic(broker, "stamped", 1).await;
    let producer = broker.producer().await.expect("producer");
    let rounding = Duration::from_millis(1);
    let mut windows = Vec::new();
    for i in 0..3 {
        let before = SystemTime::now();
        producer
            .produce(topic.clone().into(), Payload::new(format!("single-{i}")))
            .await
            .expect("produce");
        windows.push((before, SystemTime::now()));
    }
    let before = SystemTime::now();
    let batch = (0..3)
        .map(|i| (topic.clone().into(), Payload::new(format!("batch-{i}"))))
        .collect();
    for r in producer.produce_batch(batch).await {
        r.expect("produce in a batch");
    }
    windows.extend([(before, SystemTime::now()); 3]);
    let mut c = subscribed(broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    let seen = collect(&mut c, false, |s| s.messages.len() >= windows.len()).await;
    for (m, (before, after)) in seen.messages.iter().zip(&windows) {
        assert!(
            m.timestamp + rounding >= *before && m.timestamp <= *after + rounding,
            "offset {} stamped {:?}, produced between {:?} and {:?}",
            m.offset,
            m.timestamp,
            before,
            after
        );
    }
    c.close().await.expect("close");
}

/// Two groups each read the whole topic, independently.
pub async fn separate_groups_each_see_everything<B: Broker>(broker: &B) {
    let topic = new_topic(broker, "groups", 2).await;
    let producer = broker.producer().await.expect("producer");
    produce_numbered(&producer, topic.clone().into(), "m", 30).await;
    for _ in 0..2 {
        let mut c = subscribed(broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
        let seen = collect(&mut c, true, |s| s.messages.len() >= 30).await;
        assert_eq!(seen.values().into_iter().collect::<BTreeSet<_>>().len(), 30);
        c.close().await.expect("close");
    }
}

/// Topics can be created, listed and deleted; duplicates and missing ones are clear errors.
pub async fn admin_creates_lists_and_deletes_topics<B: Broker>(broker: &B) {
    let admin = broker.admin().await.expect("admin");
    let topic = Topic::new(unique_name("admin"));
    admin.create_topic(&topic, 3).await.expect("create");
    let listed = admin.list_topics().await.expect("list");
    let info = listed
        .iter()
        .find(|t| t.topic == topic)
        .expect("the new topic is listed");
    assert_eq!(info.partitions, 3);
    let err = admin
        .create_topic(&topic, 3)
        .await
        .expect_err("creating twice fails");
    assert!(
        matches!(err, BrokerError::TopicExists { .. }),
        "got {err:?}"
    );
    admin.delete_topic(&topic).await.expect("delete");
    let listed = admin.list_topics().await.expect("list");
    assert!(
        listed.iter().all(|t| t.topic != topic),
        "a deleted topic is not listed"
    );
}

/// A topic's offsets tell what each partition stores and where a group
/// committed, read without joining the group.
pub async fn admin_reads_offsets_and_a_groups_commits<B: Broker>(broker: &B) {
    let topic = new_topic(broker, "offsets", 2).await;
    let producer = broker.producer().await.expect("producer");
    // One at a time: tansu 0.6 answers a list-offsets request for a batch
    // of n messages with an end of 1 (its fetches report n).
    for (p, n) in [(0, 5), (1, 3)] {
        for i in 0..n {
            producer
                .produce(topic.partition(p).into(), numbered("m", i))
                .await
                .expect("produce");
        }
    }
    let group = unique_name("g");
    let mut c = subscribed(broker, &group, std::slice::from_ref(&topic)).await;
    let seen = collect(&mut c, false, |s| s.messages.len() >= 8).await;
    assert_eq!(seen.messages.len(), 8);
    let commit: CommitRequest = [(topic.partition(0), 2)].into_iter().collect();
    c.commit(&commit).await.expect("commit");
    let admin = broker.admin().await.expect("admin");
    let offsets = admin.offsets(&topic, Some(&group)).await.expect("offsets");
    let got: Vec<_> = offsets
        .iter()
        .map(|o| (o.partition.clone(), o.start, o.end, o.committed, o.lag()))
        .collect();
    assert_eq!(
        got,
        vec![
            (topic.partition(0), 0, 5, Some(2), 3),
            (topic.partition(1), 0, 3, None, 3),
        ]
    );
    let without_group = admin.offsets(&topic, None).await.expect("offsets");
    assert!(without_group.iter().all(|o| o.committed.is_none()));
    assert_eq!(
        without_group.iter().map(|o| o.stored()).collect::<Vec<_>>(),
        vec![5, 3]
    );
    let other = admin
        .offsets(&topic, Some(&unique_name("never")))
        .await
        .expect("offsets");
    assert!(other.iter().all(|o| o.committed.is_none()));
    let missing = admin
        .offsets(&Topic::new(unique_name("missing")), Some(&group))
        .await
        .expect_err("an unknown topic");
    assert!(
        matches!(missing, BrokerError::UnknownTopic { .. }),
        "got {missing:?}"
    );
    c.close().await.expect("close");
}

/// Committing a partition the consumer does not own is refused.
pub async fn commit_of_unowned_partition_is_refused<B: Broker>(broker: &B) {
    let topic = new_topic(broker, "unowned", 1).await;
    let mut c = subscribed(broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    collect(&mut c, false, |s| !s.assigned.is_empty()).await;
    let stranger = new_topic(broker, "stranger", 1).await.partition(0);
    let err = c
        .commit(&CommitRequest::from_iter([(stranger, 1)]))
        .await
        .expect_err("committing an unowned partition fails");
    assert!(
        matches!(err, BrokerError::NotAssigned { .. }),
        "got {err:?}"
    );
    c.close().await.expect("close");
}

/// Poll reports messages only after an assignment.
pub async fn assignment_comes_before_messages<B: Broker>(broker: &B) {
    let topic = new_topic(broker, "assign-first", 1).await;
    let producer = broker.producer().await.expect("producer");
    produce_numbered(&producer, topic.clone().into(), "m", 3).await;
    let mut c = subscribed(broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    let first = tokio::time::timeout(crate::WAIT, c.poll())
        .await
        .expect("an event")
        .expect("poll");
    assert!(
        matches!(first, ConsumerEvent::Assigned(_)),
        "first event was {first:?}"
    );
    c.close().await.expect("close");
}

/// A seek past the end is out of range: when the consumer reads the
/// partition next it starts where its reset policy says (earliest, by
/// default), as Kafka's consumers do, so nothing produced afterwards is
/// skipped. A seek exactly to the end (the next offset to be written) is in
/// range and reads what comes next.
pub async fn seek_past_the_end_resets_and_skips_nothing<B: Broker>(broker: &B) {
    let topic = new_topic(broker, "seek-past", 1).await;
    let p = topic.partition(0);
    let producer = broker.producer().await.expect("producer");
    produce_numbered(&producer, p.clone().into(), "m", 10).await;
    let mut c = subscribed(broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    collect(&mut c, false, |s| s.messages.len() >= 10).await;

    c.seek(&p, 10).expect("seeking to the end is in range");
    produce_numbered(&producer, p.clone().into(), "n", 2).await;
    let seen = collect(&mut c, false, |s| s.messages.len() >= 2).await;
    assert_eq!(
        seen.messages.iter().map(|m| m.offset).collect::<Vec<_>>(),
        vec![10, 11],
        "a seek to the end reads what comes next"
    );

    c.seek(&p, 1000)
        .expect("a seek past the end is taken, then reset");
    produce_numbered(&producer, p.clone().into(), "late", 5).await;
    let seen = collect(&mut c, false, |s| s.messages.iter().any(|m| m.offset == 16)).await;
    let offsets: Vec<u64> = seen.messages.iter().map(|m| m.offset).collect();
    assert_eq!(
        offsets.first(),
        Some(&0),
        "the earliest reset policy starts again at the first message: {offsets:?}"
    );
    for o in 0..17 {
        assert!(
            offsets.contains(&o),
            "offset {o} was skipped after a seek past the end: {offsets:?}"
        );
    }
    c.close().await.expect("close");
}

/// Committing up to the end is fine; past it is
/// [`BrokerError::OffsetOutOfRange`] naming the partition, the offset and
/// the end, and the committed offset stays.
pub async fn commit_past_the_end_is_refused<B: Broker>(broker: &B) {
    let topic = new_topic(broker, "commit-past", 1).await;
    let p = topic.partition(0);
    let producer = broker.producer().await.expect("producer");
    produce_numbered(&producer, p.clone().into(), "m", 10).await;
    let mut c = subscribed(broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    collect(&mut c, false, |s| s.messages.len() >= 10).await;
    c.commit(&CommitRequest::from_iter([(p.clone(), 10)]))
        .await
        .expect("committing the end is fine");
    for offset in [11, 1_000_000] {
        let err = c
            .commit(&CommitRequest::from_iter([(p.clone(), offset)]))
            .await
            .expect_err("committing past the end fails");
        assert!(
            matches!(&err, BrokerError::OffsetOutOfRange { partition, offset: o, end: 10 }
                if *partition == p && *o == offset),
            "got {err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&offset.to_string()) && text.contains(&p.to_string()),
            "the error names the partition and the offset: {text}"
        );
    }
    let committed = c
        .committed(std::slice::from_ref(&p))
        .await
        .expect("committed");
    assert_eq!(
        committed.get(&p),
        Some(&Some(10)),
        "the refused commits left no trace"
    );
    c.close().await.expect("close");
}

/// Asserts `result` failed with the variant `matches` accepts.
fn refused<T: std::fmt::Debug>(
    what: &str,
    result: Result<T, BrokerError>,
    matches: impl Fn(&BrokerError) -> bool,
) {
    match result {
        Err(e) if matches(&e) => {}
        other => panic!("{what}: got {other:?}"),
    }
}

/// Every misuse of a consumer gets the same error on every backend: calls
/// on a partition before subscribing or on one not assigned are
/// [`BrokerError::NotAssigned`], `poll` before subscribing is
/// [`BrokerError::NotSubscribed`], and every call after `close` is
/// [`BrokerError::Closed`]. `position` of such a partition is `None`.
pub async fn consumer_misuse_gets_one_error_each<B: Broker>(broker: &B) {
    let topic = new_topic(broker, "misuse", 1).await;
    let p = topic.partition(0);
    let one = |offset| CommitRequest::from_iter([(p.clone(), offset)]);
    let not_assigned =
        |e: &BrokerError| matches!(e, BrokerError::NotAssigned { partition } if *partition == p);

    let mut c = broker
        .consumer(weir_core::ConsumerConfig::new(unique_name("g")))
        .await
        .expect("consumer");
    refused(
        "commit before subscribe",
        c.commit(&one(0)).await,
        not_assigned,
    );
    refused("seek before subscribe", c.seek(&p, 0), not_assigned);
    refused(
        "pause before subscribe",
        c.pause(std::slice::from_ref(&p)),
        not_assigned,
    );
    refused(
        "resume before subscribe",
        c.resume(std::slice::from_ref(&p)),
        not_assigned,
    );
    assert_eq!(c.position(&p), None, "position before subscribe");
    refused("poll before subscribe", c.poll().await, |e| {
        matches!(e, BrokerError::NotSubscribed)
    });

    c.subscribe(std::slice::from_ref(&topic))
        .await
        .expect("subscribe");
    crate::until_assigned(&mut c).await;
    let stranger = new_topic(broker, "stranger", 1).await.partition(0);
    let stranger_refused = |e: &BrokerError| matches!(e, BrokerError::NotAssigned { partition } if *partition == stranger);
    let req = CommitRequest::from_iter([(stranger.clone(), 0)]);
    refused(
        "commit of an unassigned partition",
        c.commit(&req).await,
        stranger_refused,
    );
    refused(
        "seek of an unassigned partition",
        c.seek(&stranger, 0),
        stranger_refused,
    );
    let both = [p.clone(), stranger.clone()];
    refused(
        "pause of an unassigned partition",
        c.pause(&both),
        stranger_refused,
    );
    assert!(c.paused().is_empty(), "a refused pause pauses nothing");
    refused(
        "resume of an unassigned partition",
        c.resume(&both),
        stranger_refused,
    );
    assert_eq!(
        c.position(&stranger),
        None,
        "position of an unassigned partition"
    );

    c.close().await.expect("close");
    c.close().await.expect("closing twice is fine");
    let closed = |e: &BrokerError| matches!(e, BrokerError::Closed("consumer"));
    refused("commit after close", c.commit(&one(0)).await, closed);
    refused("seek after close", c.seek(&p, 0), closed);
    refused(
        "pause after close",
        c.pause(std::slice::from_ref(&p)),
        closed,
    );
    refused(
        "resume after close",
        c.resume(std::slice::from_ref(&p)),
        closed,
    );
    refused("poll after close", c.poll().await, closed);
    refused(
        "subscribe after close",
        c.subscribe(std::slice::from_ref(&topic)).await,
        closed,
    );
    refused(
        "committed after close",
        c.committed(std::slice::from_ref(&p)).await,
        closed,
    );
    assert_eq!(c.position(&p), None, "position after close");
    assert!(c.assignment().is_empty(), "assignment after close");
}

/// Producing to a missing topic or partition, creating a topic twice or
/// with no partitions: one error variant each, naming what was asked for.
pub async fn producer_and_admin_misuse_gets_one_error_each<B: Broker>(broker: &B) {
    let producer = broker.producer().await.expect("producer");
    let missing = Topic::new(unique_name("missing"));
    refused(
        "produce to a missing topic",
        producer
            .produce(missing.partition(0).into(), Payload::new("x"))
            .await,
        |e| matches!(e, BrokerError::UnknownTopic { topic } if *topic == missing),
    );
    let topic = new_topic(broker, "two", 2).await;
    let beyond = topic.partition(5);
    refused(
        "produce to a missing partition",
        producer
            .produce(beyond.clone().into(), Payload::new("x"))
            .await,
        |e| {
            matches!(e, BrokerError::UnknownPartition { partition, partitions: 2 }
                if *partition == beyond)
        },
    );
    let admin = broker.admin().await.expect("admin");
    refused(
        "creating an existing topic",
        admin.create_topic(&topic, 2).await,
        |e| matches!(e, BrokerError::TopicExists { topic: t } if *t == topic),
    );
    let empty = Topic::new(unique_name("empty"));
    refused(
        "creating a topic with no partitions",
        admin.create_topic(&empty, 0).await,
        |e| matches!(e, BrokerError::NoPartitions { topic } if *topic == empty),
    );
    assert!(
        admin
            .list_topics()
            .await
            .expect("list")
            .iter()
            .all(|t| t.topic != empty),
        "a refused topic is not created"
    );
}
