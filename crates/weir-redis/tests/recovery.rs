//! What the issue asks of Redis beyond the conformance suite: crash
//! recovery with delivery counts, a server restart mid-stream, concurrent
//! groups, key prefix isolation, and clear errors.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::TestBroker;
use weir_core::{Admin, Broker, BrokerError, CommitRequest, Consumer, Payload, Producer};
use weir_redis::{DELIVERY_COUNT_HEADER, RedisBroker, RedisConfig};
use weir_testkit::servers::free_port;
use weir_testkit::servers::redis::RedisServer;
use weir_testkit::{
    RunningMember, collect, delete_topic, new_topic, produce_numbered, subscribed, unique_name,
    wait_until,
};

fn delivery_count(m: &weir_core::BrokerValue<Payload>) -> u64 {
    m.payload
        .headers
        .get(DELIVERY_COUNT_HEADER)
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
        .unwrap_or(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_consumers_entries_come_back_to_another_with_their_delivery_count() {
    let broker = TestBroker::start().await;
    let topic = new_topic(&broker, "crash", 1).await;
    let p = topic.partition(0);
    let producer = broker.producer().await.expect("producer");
    produce_numbered(&producer, p.clone().into(), "m", 10).await;
    let group = unique_name("g");

    let mut first = subscribed(&broker, &group, std::slice::from_ref(&topic)).await;
    let seen = collect(&mut first, false, |s| s.messages.len() >= 10).await;
    assert!(seen.messages.iter().all(|m| delivery_count(m) == 1));
    first
        .commit(&CommitRequest::from_iter([(p.clone(), 4)]))
        .await
        .expect("commit");
    // A crash: no commit of the rest, no goodbye; the lease must run out.
    std::mem::forget(first);

    let started = tokio::time::Instant::now();
    let mut second = subscribed(&broker, &group, std::slice::from_ref(&topic)).await;
    let seen = collect(&mut second, false, |s| s.messages.len() >= 6).await;
    assert_eq!(seen.assigned.last().and_then(|a| a.get(&p)), Some(&4));
    let offsets: Vec<u64> = seen.messages.iter().map(|m| m.offset).collect();
    assert_eq!(
        offsets,
        (4..10).collect::<Vec<_>>(),
        "the uncommitted tail comes back"
    );
    for m in &seen.messages {
        assert_eq!(
            delivery_count(m),
            2,
            "offset {} was delivered twice",
            m.offset
        );
    }
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "the partition waited for the crashed member's lease"
    );
    // The server's pending list agrees: the ten messages, produced in one
    // batch, are one entry (id `0-10`), delivered twice, now the second's.
    let stream = common::stream_key(&topic, 0);
    let before = pending(&broker, &stream, &group).await;
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(
        (before[0].0.as_str(), before[0].1.as_str(), before[0].3),
        ("0-10", second.member_id(), 2)
    );
    // A commit inside the entry keeps it pending; one at its end lets it go.
    for (offset, left) in [(7, 1), (10, 0)] {
        second
            .commit(&CommitRequest::from_iter([(p.clone(), offset)]))
            .await
            .expect("commit");
        assert_eq!(pending(&broker, &stream, &group).await.len(), left);
    }
    second.close().await.expect("close");
}

/// A group's pending entries on a stream: id, owner, idle ms, deliveries.
async fn pending(
    broker: &TestBroker,
    stream: &str,
    group: &str,
) -> Vec<(String, String, u64, u64)> {
    broker
        .raw(
            redis::cmd("XPENDING")
                .arg(stream)
                .arg(group)
                .arg("-")
                .arg("+")
                .arg(100),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_consumer_hands_its_partitions_over_at_once() {
    let broker = TestBroker::start_with(RedisServer::builder(), |c| {
        c.session_timeout(Duration::from_secs(30))
            .heartbeat_interval(Duration::from_secs(1))
    })
    .await;
    let topic = new_topic(&broker, "drop", 2).await;
    let producer = broker.producer().await.expect("producer");
    produce_numbered(&producer, topic.clone().into(), "m", 20).await;
    let group = unique_name("g");
    let mut first = subscribed(&broker, &group, std::slice::from_ref(&topic)).await;
    collect(&mut first, false, |s| s.messages.len() >= 20).await;
    drop(first);
    let mut second = subscribed(&broker, &group, std::slice::from_ref(&topic)).await;
    let seen = tokio::time::timeout(
        Duration::from_secs(10),
        collect(&mut second, false, |s| s.messages.len() >= 20),
    )
    .await
    .expect("handed over well before the 30 s session timeout");
    assert!(seen.messages.iter().all(|m| delivery_count(m) == 2));
    second.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_mid_stream_loses_nothing() {
    // The producer rides out the restart within its reconnect timeout: a
    // cluster's restart (every node, then every slot served again) took
    // more than the tests' usual 10 s once with the whole suite running.
    let broker = TestBroker::start_with(RedisServer::builder().append_only(true), |c| {
        c.reconnect_timeout(Duration::from_secs(30))
    })
    .await;
    let topic = new_topic(&broker, "restart", 2).await;
    let group = unique_name("g");
    let member = RunningMember::spawn(
        subscribed(&broker, &group, std::slice::from_ref(&topic)).await,
        true,
    );
    let producer = broker.producer().await.expect("producer");
    let sender = tokio::spawn({
        let topic = topic.clone();
        async move {
            for i in 0..40 {
                let batch = (0..25)
                    .map(|j| {
                        (
                            topic.clone().into(),
                            Payload::new(format!("m-{}", i * 25 + j)),
                        )
                    })
                    .collect();
                for r in producer.produce_batch(batch).await {
                    r.expect("produce rides out the restart");
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });
    wait_until("some messages arrive", || member.received().len() >= 200).await;
    let server = std::sync::Arc::clone(&broker.server);
    tokio::task::spawn_blocking(move || server.lock().expect("server").restart())
        .await
        .expect("restart");
    sender.await.expect("the producer finished");
    wait_until("everything arrives after the restart", || {
        let got: BTreeSet<String> = member
            .received()
            .iter()
            .map(|m| String::from_utf8_lossy(&m.payload.value).into_owned())
            .collect();
        got.len() >= 1000 || member.error().is_some()
    })
    .await;
    assert_eq!(member.error(), None);
    member.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_groups_reading_at_once_each_see_everything() {
    let broker = TestBroker::start().await;
    let topic = new_topic(&broker, "two-groups", 3).await;
    let a = RunningMember::spawn(
        subscribed(&broker, &unique_name("a"), std::slice::from_ref(&topic)).await,
        true,
    );
    let b = RunningMember::spawn(
        subscribed(&broker, &unique_name("b"), std::slice::from_ref(&topic)).await,
        true,
    );
    let producer = broker.producer().await.expect("producer");
    produce_numbered(&producer, topic.clone().into(), "m", 300).await;
    let distinct = |m: &RunningMember| {
        m.received()
            .iter()
            .map(|v| (v.partition.index, v.offset))
            .collect::<BTreeSet<_>>()
            .len()
    };
    wait_until("both groups read all 300", || {
        distinct(&a) == 300 && distinct(&b) == 300
    })
    .await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_prefixes_keep_apps_apart_on_one_server() {
    let one = TestBroker::start().await;
    let two = one.other(|c| c.key_prefix("other-app")).await;
    let topic = weir_core::Topic::new("shared-name");
    one.admin()
        .await
        .expect("admin")
        .create_topic(&topic, 1)
        .await
        .expect("create");
    two.admin()
        .await
        .expect("admin")
        .create_topic(&topic, 2)
        .await
        .expect("same name, other app");
    let listed = two
        .admin()
        .await
        .expect("admin")
        .list_topics()
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].partitions, 2);
    let producer = one.producer().await.expect("producer");
    produce_numbered(&producer, topic.partition(0).into(), "one", 5).await;
    let mut c = subscribed(&two, "g", std::slice::from_ref(&topic)).await;
    let quiet = weir_testkit::poll_quietly(&mut c, Duration::from_millis(500)).await;
    assert!(
        quiet.is_empty(),
        "the other app saw {} messages",
        quiet.len()
    );
    let mut c1 = subscribed(&one, "g", std::slice::from_ref(&topic)).await;
    let seen = collect(&mut c1, true, |s| s.messages.len() >= 5).await;
    assert_eq!(seen.values()[0], "one-0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_a_clear_error_soon() {
    let port = free_port();
    let config = RedisConfig::builder(format!("redis://127.0.0.1:{port}"))
        .reconnect_timeout(Duration::from_secs(2))
        .build()
        .expect("config");
    let started = tokio::time::Instant::now();
    let err = RedisBroker::connect(config)
        .await
        .expect_err("nobody listens");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        matches!(&err, BrokerError::Unreachable { endpoint, .. } if endpoint.contains(&port.to_string())),
        "got {err:?}"
    );
    assert!(err.is_transient());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_is_required_and_used() {
    let server = RedisServer::builder().password("s3cret").start();
    let wrong = format!("redis://:nope@127.0.0.1:{}", server.port());
    let err = RedisBroker::connect_url(&wrong)
        .await
        .expect_err("a wrong password");
    assert!(
        matches!(err, BrokerError::Unauthorized { .. }),
        "got {err:?}"
    );
    assert!(
        !err.to_string().contains("nope"),
        "the password leaks: {err}"
    );
    let broker = RedisBroker::connect_url(&server.url())
        .await
        .expect("the right password");
    let topic = new_topic(&broker, "auth", 1).await;
    let out = broker
        .producer()
        .await
        .expect("producer")
        .produce(topic.into(), Payload::new("x"))
        .await
        .expect("produce");
    assert_eq!(out.offset, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_payload_is_refused_at_produce_time() {
    let broker =
        TestBroker::start_with(RedisServer::builder(), |c| c.max_payload_bytes(1000)).await;
    let topic = new_topic(&broker, "big", 1).await;
    let producer = broker.producer().await.expect("producer");
    let err = producer
        .produce(topic.clone().into(), Payload::new(vec![7u8; 1001]))
        .await
        .expect_err("too large");
    assert!(
        matches!(&err, BrokerError::PayloadTooLarge { size: 1001, limit: 1000, topic: t } if *t == topic),
        "got {err:?}"
    );
    let ok = producer
        .produce(topic.into(), Payload::new(vec![7u8; 1000]))
        .await
        .expect("at the limit");
    assert_eq!(ok.offset, 0, "the refused payload took no offset");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeking_back_redelivers_with_a_higher_count_and_latest_skips_the_past() {
    let broker = TestBroker::start().await;
    let topic = new_topic(&broker, "seek-count", 1).await;
    let p = topic.partition(0);
    let producer = broker.producer().await.expect("producer");
    produce_numbered(&producer, p.clone().into(), "m", 5).await;
    let mut c = subscribed(&broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    collect(&mut c, false, |s| s.messages.len() >= 5).await;
    c.seek(&p, 2).expect("seek");
    let seen = collect(&mut c, false, |s| s.messages.len() >= 3).await;
    assert_eq!(
        seen.messages.iter().map(delivery_count).collect::<Vec<_>>(),
        vec![2, 2, 2]
    );
    c.close().await.expect("close");

    let mut late = broker
        .consumer(
            weir_core::ConsumerConfig::builder(unique_name("g"))
                .offset_reset(weir_core::OffsetReset::Latest)
                .build()
                .expect("a valid consumer config"),
        )
        .await
        .expect("consumer");
    late.subscribe(std::slice::from_ref(&topic))
        .await
        .expect("subscribe");
    let assigned = collect(&mut late, false, |s| !s.assigned.is_empty()).await;
    assert_eq!(assigned.assigned[0].get(&p), Some(&5));
    produce_numbered(&producer, p.clone().into(), "new", 1).await;
    let seen = collect(&mut late, false, |s| !s.messages.is_empty()).await;
    assert_eq!(seen.values(), vec!["new-0"]);
    late.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubscribing_hands_the_old_partitions_over() {
    let broker = TestBroker::start().await;
    let (old, new) = (
        new_topic(&broker, "old", 2).await,
        new_topic(&broker, "new", 1).await,
    );
    let group = unique_name("g");
    let mut c = subscribed(&broker, &group, std::slice::from_ref(&old)).await;
    collect(&mut c, false, |s| {
        s.assigned.iter().map(|a| a.len()).sum::<usize>() >= 2
    })
    .await;
    c.subscribe(std::slice::from_ref(&new))
        .await
        .expect("resubscribe");
    let seen = collect(&mut c, false, |s| {
        !s.revoked.is_empty() && s.assigned.iter().any(|a| a.contains_key(&new.partition(0)))
    })
    .await;
    assert_eq!(
        seen.revoked[0],
        [old.partition(0), old.partition(1)].into_iter().collect(),
        "the old topic's partitions are revoked"
    );
    // Handed over (not left to expire): another member takes them at once.
    let mut other = subscribed(&broker, &group, std::slice::from_ref(&old)).await;
    let taken = tokio::time::timeout(
        Duration::from_secs(1),
        collect(&mut other, false, |s| {
            s.assigned.iter().map(|a| a.len()).sum::<usize>() >= 2
        }),
    );
    // `c` must poll once more to release what it was told to give up.
    let (taken, _) = tokio::join!(
        taken,
        weir_testkit::poll_quietly(&mut c, Duration::from_millis(300))
    );
    taken.expect("the old partitions moved well before the session timeout");
    c.close().await.expect("close");
    other.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_topic_while_reading_revokes_its_partitions() {
    let broker = TestBroker::start().await;
    let (gone, kept) = (
        new_topic(&broker, "gone", 1).await,
        new_topic(&broker, "kept", 1).await,
    );
    let mut c = subscribed(&broker, &unique_name("g"), &[gone.clone(), kept.clone()]).await;
    collect(&mut c, false, |s| {
        s.assigned.iter().map(|a| a.len()).sum::<usize>() >= 2
    })
    .await;
    delete_topic(&broker, &gone).await;
    let seen = collect(&mut c, false, |s| !s.revoked.is_empty()).await;
    assert_eq!(seen.revoked[0], [gone.partition(0)].into_iter().collect());
    let producer = broker.producer().await.expect("producer");
    produce_numbered(&producer, kept.partition(0).into(), "k", 3).await;
    let seen = collect(&mut c, true, |s| s.messages.len() >= 3).await;
    assert_eq!(seen.values(), vec!["k-0", "k-1", "k-2"]);
    c.close().await.expect("close");
}
