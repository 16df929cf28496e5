//! Scenarios for the job capabilities of `weir_core::capability`, shared by
//! every backend that offers them. Expand them with [`capability_suite!`](crate::capability_suite).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use weir_core::capability::{
    ChannelEvent, Dedup, DelayedDelivery, EventChannel, EventSubscription, Permits, ResultStore,
};
use weir_core::{Broker, Consumer, Payload};

use crate::support::{WAIT, collect, new_topic, subscribed, unique_name};

/// An entry produced for later stays out of the log until it is due; one due
/// at once is delivered at once.
pub async fn delayed_entries_arrive_when_due<B: Broker + DelayedDelivery>(broker: &B) {
    let topic = new_topic(broker, "delay", 1).await;
    let now = SystemTime::now();
    let later = now + Duration::from_millis(400);
    broker
        .produce_at(topic.clone().into(), Payload::new("later"), later)
        .await
        .expect("produce_at");
    broker
        .produce_at(
            topic.clone().into(),
            Payload::new("now").with_header("h", "1"),
            now - Duration::from_secs(1),
        )
        .await
        .expect("produce_at");
    let moved = broker.deliver_due(&topic).await.expect("deliver_due");
    assert_eq!(
        moved.len(),
        1,
        "only the entry already due moves: {moved:?}"
    );
    assert_eq!(moved[0].offset, 0);
    let next = broker
        .next_due(&topic)
        .await
        .expect("next_due")
        .expect("one entry still waits");
    let skew = Duration::from_millis(5);
    assert!(
        next + skew >= later && next <= later + skew,
        "next due {next:?} is the later entry's {later:?}"
    );
    let mut c = subscribed(broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    let seen = collect(&mut c, false, |s| !s.messages.is_empty()).await;
    assert_eq!(seen.values(), vec!["now"]);
    assert_eq!(
        seen.messages[0].payload.headers.get("h").map(|v| &v[..]),
        Some(&b"1"[..]),
        "headers survive the wait"
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let moved = broker.deliver_due(&topic).await.expect("deliver_due");
        if !moved.is_empty() {
            assert!(
                SystemTime::now() + skew >= later,
                "an entry moved before it was due"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the later entry never fell due"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(broker.next_due(&topic).await.expect("next_due"), None);
    let seen = collect(&mut c, false, |s| !s.messages.is_empty()).await;
    assert_eq!(seen.values(), vec!["later"]);
    c.close().await.expect("close");
}

/// Several workers moving due entries at once move each exactly once.
pub async fn due_entries_move_exactly_once_with_many_workers<B: Broker + DelayedDelivery>(
    broker: &B,
) {
    let topic = new_topic(broker, "delay-many", 3).await;
    let past = SystemTime::now() - Duration::from_millis(10);
    for i in 0..300 {
        broker
            .produce_at(topic.clone().into(), Payload::new(format!("d-{i}")), past)
            .await
            .expect("produce_at");
    }
    let moved = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (b, t, moved) = (broker.clone(), topic.clone(), Arc::clone(&moved));
        workers.push(tokio::spawn(async move {
            for _ in 0..20 {
                let n = b.deliver_due(&t).await.expect("deliver_due").len();
                moved.fetch_add(n, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    assert_eq!(
        moved.load(Ordering::SeqCst),
        300,
        "every entry moved exactly once"
    );
    let mut c = subscribed(broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    let seen = collect(&mut c, false, |s| s.messages.len() >= 300).await;
    let distinct: BTreeSet<String> = seen.values().into_iter().collect();
    assert_eq!(distinct.len(), 300);
    assert_eq!(seen.messages.len(), 300, "no entry arrived twice");
    c.close().await.expect("close");
}

/// An id is seen first once per TTL and scope; forgetting it frees it.
pub async fn dedup_remembers_ids_for_their_ttl<B: Broker + Dedup>(broker: &B) {
    let scope = unique_name("scope");
    let ttl = Duration::from_millis(300);
    assert!(
        broker
            .first_seen(&scope, "job-1", ttl)
            .await
            .expect("dedup")
    );
    assert!(
        !broker
            .first_seen(&scope, "job-1", ttl)
            .await
            .expect("dedup")
    );
    assert!(
        broker
            .first_seen("other", &scope, ttl)
            .await
            .expect("dedup"),
        "scopes are separate"
    );
    assert!(broker.forget(&scope, "job-1").await.expect("forget"));
    assert!(!broker.forget(&scope, "job-1").await.expect("forget"));
    assert!(
        broker
            .first_seen(&scope, "job-1", ttl)
            .await
            .expect("dedup")
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while !broker
        .first_seen(&scope, "job-1", ttl)
        .await
        .expect("dedup")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the id never expired"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Of many concurrent callers, exactly one wins.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (b, s) = (broker.clone(), scope.clone());
        tasks.push(tokio::spawn(async move {
            b.first_seen(&s, "race", Duration::from_secs(60))
                .await
                .expect("dedup")
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.expect("task"));
    }
    assert_eq!(wins, 1, "exactly one caller sees the id first");
}

/// Waits for the result of `id` in a task of its own.
fn waiter<B: Broker + ResultStore>(broker: &B, id: &str) -> tokio::task::JoinHandle<Option<Bytes>> {
    let (b, id) = (broker.clone(), id.to_owned());
    tokio::spawn(async move { b.wait_result(&id, WAIT).await.expect("wait") })
}

/// Returns once the result of `id` has expired.
async fn until_expired<B: ResultStore>(broker: &B, id: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while broker.get_result(id).await.expect("get").is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the result never expired"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A result can be awaited before it exists, read after, and expires.
pub async fn results_can_be_awaited_and_expire<B: Broker + ResultStore>(broker: &B) {
    let id = unique_name("job");
    let waiter = waiter(broker, &id);
    tokio::time::sleep(Duration::from_millis(50)).await;
    broker
        .put_result(&id, Bytes::from_static(b"42"), Duration::from_millis(400))
        .await
        .expect("put");
    assert_eq!(
        waiter.await.expect("waiter"),
        Some(Bytes::from_static(b"42"))
    );
    assert_eq!(
        broker.get_result(&id).await.expect("get"),
        Some(Bytes::from_static(b"42"))
    );
    assert_eq!(
        broker
            .wait_result(&id, Duration::from_millis(10))
            .await
            .expect("wait"),
        Some(Bytes::from_static(b"42")),
        "a stored result is returned at once"
    );
    let missing = broker
        .wait_result(&unique_name("none"), Duration::from_millis(100))
        .await
        .expect("wait");
    assert_eq!(missing, None);
    until_expired(broker, &id).await;
}

/// Results stored together are read back together, in order, missing ones
/// as `None`, and wake their waiters as one stored alone does.
pub async fn results_go_in_and_out_together<B: Broker + ResultStore>(broker: &B) {
    let ids: Vec<String> = (0..5).map(|_| unique_name("job")).collect();
    let waiter = waiter(broker, &ids[3]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let entries = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(i, id)| (id.clone(), Bytes::from(format!("r{i}"))))
        .collect::<Vec<_>>();
    broker.put_results(&entries, WAIT).await.expect("put");
    assert_eq!(waiter.await.expect("waiter"), Some(Bytes::from("r3")));
    // The later of two entries for one id wins.
    broker
        .put_results(
            &[
                (ids[0].clone(), Bytes::from("old")),
                (ids[0].clone(), Bytes::from("new")),
            ],
            WAIT,
        )
        .await
        .expect("put");
    let got = broker.get_results(&ids).await.expect("get");
    let want = vec![
        Some(Bytes::from("new")),
        Some(Bytes::from("r1")),
        None,
        Some(Bytes::from("r3")),
        None,
    ];
    assert_eq!(got, want);
    assert_eq!(broker.get_results(&[]).await.expect("get none"), Vec::new());
    broker.put_results(&[], WAIT).await.expect("put none");
}

/// A result stored only if absent is stored once: a second such write, and
/// one over a result stored plainly, change nothing and say so; once the
/// stored one expires, it may be stored again. Its waiter is woken.
pub async fn results_stored_if_absent_never_replace_one<B: Broker + ResultStore>(broker: &B) {
    let id = unique_name("job");
    let waiter = waiter(broker, &id);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let ttl = Duration::from_millis(300);
    let first = broker
        .put_result_if_absent(&id, Bytes::from_static(b"first"), ttl)
        .await
        .expect("put if absent");
    assert!(first, "nothing was stored: it stores");
    assert_eq!(
        waiter.await.expect("waiter"),
        Some(Bytes::from_static(b"first"))
    );
    let second = broker
        .put_result_if_absent(&id, Bytes::from_static(b"second"), WAIT)
        .await
        .expect("put if absent");
    assert!(!second, "one is stored: it does not");
    assert_eq!(
        broker.get_result(&id).await.expect("get"),
        Some(Bytes::from_static(b"first"))
    );
    let plain = unique_name("job");
    broker
        .put_result(&plain, Bytes::from_static(b"later"), WAIT)
        .await
        .expect("put");
    let over = broker
        .put_result_if_absent(&plain, Bytes::from_static(b"earlier"), WAIT)
        .await
        .expect("put if absent");
    assert!(!over);
    assert_eq!(
        broker.get_result(&plain).await.expect("get"),
        Some(Bytes::from_static(b"later"))
    );
    until_expired(broker, &id).await;
    let again = broker
        .put_result_if_absent(&id, Bytes::from_static(b"again"), WAIT)
        .await
        .expect("put if absent");
    assert!(again, "the stored one expired: it stores");
    assert_eq!(
        broker.get_result(&id).await.expect("get"),
        Some(Bytes::from_static(b"again"))
    );
}

/// Results stored only if absent, with events: each stored unless one
/// of its id is, in one call, and the events published either way, in
/// order.
pub async fn results_stored_if_absent_with_events_publish_them_either_way<
    B: Broker + ResultStore + EventChannel,
>(
    broker: &B,
) {
    let channel = unique_name("events");
    let (a, b) = (unique_name("job"), unique_name("job"));
    let mut sub = broker.subscribe(&channel).await.expect("subscribe");
    let first = broker
        .put_results_if_absent_publishing(
            &[(a.clone(), Bytes::from_static(b"a1"))],
            WAIT,
            &channel,
            &[Bytes::from_static(b"e1")],
        )
        .await
        .expect("put if absent and publish");
    assert_eq!(first, [true], "nothing was stored: it stores");
    let second = broker
        .put_results_if_absent_publishing(
            &[
                (a.clone(), Bytes::from_static(b"a2")),
                (b.clone(), Bytes::from_static(b"b1")),
            ],
            WAIT,
            &channel,
            &[Bytes::from_static(b"e2"), Bytes::from_static(b"e3")],
        )
        .await
        .expect("put if absent and publish");
    assert_eq!(second, [false, true], "only the one not stored is");
    assert_eq!(
        broker.get_results(&[a, b]).await.expect("get"),
        [
            Some(Bytes::from_static(b"a1")),
            Some(Bytes::from_static(b"b1"))
        ]
    );
    let none = broker
        .put_results_if_absent_publishing(&[], WAIT, &channel, &[Bytes::from_static(b"e4")])
        .await
        .expect("publish alone");
    assert!(none.is_empty());
    assert_eq!(messages(&mut sub, 4).await, ["e1", "e2", "e3", "e4"]);
}

/// Results stored with events: a subscriber gets the events, and a waiter
/// woken by one of the results is woken after them, so an event it
/// publishes once woken arrives behind them.
pub async fn events_stored_with_results_come_before_what_their_waiters_do<
    B: Broker + ResultStore + EventChannel,
>(
    broker: &B,
) {
    let channel = unique_name("events");
    let id = unique_name("job");
    let mut sub = broker.subscribe(&channel).await.expect("subscribe");
    let waiter = {
        let (b, id, channel) = (broker.clone(), id.clone(), channel.clone());
        tokio::spawn(async move {
            let got = b.wait_result(&id, WAIT).await.expect("wait");
            b.publish(&channel, Bytes::from_static(b"after"))
                .await
                .expect("publish");
            got
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let events: Vec<Bytes> = (0..3).map(|i| Bytes::from(format!("e{i}"))).collect();
    broker
        .put_results_publishing(&[(id, Bytes::from("r"))], WAIT, &channel, &events)
        .await
        .expect("put and publish");
    assert_eq!(waiter.await.expect("waiter"), Some(Bytes::from("r")));
    assert_eq!(messages(&mut sub, 4).await, ["e0", "e1", "e2", "after"]);
}

/// The next `n` messages `sub` gets (other events passed over), each
/// within `WAIT`.
async fn messages<S: EventSubscription>(sub: &mut S, n: usize) -> Vec<Bytes> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let event = tokio::time::timeout(WAIT, sub.next_event())
            .await
            .expect("an event in time")
            .expect("event");
        if let ChannelEvent::Message(m) = event {
            got.push(m);
        }
    }
    got
}

/// Events published together arrive as published one by one, in order.
pub async fn events_published_together_arrive_in_order<B: Broker + EventChannel>(broker: &B) {
    let channel = unique_name("events");
    let mut sub = broker.subscribe(&channel).await.expect("subscribe");
    let events: Vec<Bytes> = (0..20).map(|i| Bytes::from(format!("e{i}"))).collect();
    broker
        .publish_many(&channel, &events)
        .await
        .expect("publish");
    broker
        .publish_many(&channel, &[])
        .await
        .expect("publish none");
    for want in events {
        let event = tokio::time::timeout(WAIT, sub.next_event())
            .await
            .expect("an event in time")
            .expect("event");
        assert_eq!(event, ChannelEvent::Message(want));
    }
}

/// Every subscriber gets every event published after it subscribed, in
/// order, and `publish` counts them.
pub async fn events_reach_every_subscriber<B: Broker + EventChannel>(broker: &B) {
    reach_every_subscriber(broker, Count::Exact).await;
}

/// Every subscriber gets every event published after it subscribed, in
/// order; `publish` returns the count or 0, for a backend that cannot tell
/// who subscribed (Kafka).
pub async fn events_reach_every_subscriber_uncounted<B: Broker + EventChannel>(broker: &B) {
    reach_every_subscriber(broker, Count::ExactOrUnknown).await;
}

/// What `publish` must return for two subscribers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Count {
    Exact,
    ExactOrUnknown,
}

async fn reach_every_subscriber<B: Broker + EventChannel>(broker: &B, count: Count) {
    let channel = unique_name("events");
    let mut a = broker.subscribe(&channel).await.expect("subscribe");
    let mut b = broker.subscribe(&channel).await.expect("subscribe");
    let mut other = broker
        .subscribe(&unique_name("quiet"))
        .await
        .expect("subscribe");
    for i in 0..3 {
        let n = broker
            .publish(&channel, Bytes::from(format!("e{i}")))
            .await
            .expect("publish");
        match count {
            Count::Exact => assert_eq!(n, 2, "both subscribers were reached"),
            Count::ExactOrUnknown => assert!(n == 2 || n == 0, "{n} subscribers reached (of 2)"),
        }
    }
    for sub in [&mut a, &mut b] {
        for i in 0..3 {
            let event = tokio::time::timeout(WAIT, sub.next_event())
                .await
                .expect("an event in time")
                .expect("event");
            assert_eq!(event, ChannelEvent::Message(Bytes::from(format!("e{i}"))));
        }
    }
    let quiet = tokio::time::timeout(Duration::from_millis(200), other.next_event()).await;
    assert!(quiet.is_err(), "another channel's subscriber got {quiet:?}");
}

/// A subscription gets no event published before it subscribed: no history.
pub async fn events_before_subscribing_are_not_delivered<B: Broker + EventChannel>(broker: &B) {
    let channel = unique_name("events");
    broker
        .publish(&channel, Bytes::from_static(b"before"))
        .await
        .expect("publish");
    let mut early = broker.subscribe(&channel).await.expect("subscribe");
    broker
        .publish(&channel, Bytes::from_static(b"between"))
        .await
        .expect("publish");
    let mut late = broker.subscribe(&channel).await.expect("subscribe");
    broker
        .publish(&channel, Bytes::from_static(b"after"))
        .await
        .expect("publish");
    for (sub, want) in [
        (&mut early, ["between", "after"].as_slice()),
        (&mut late, &["after"]),
    ] {
        for w in want {
            let event = tokio::time::timeout(WAIT, sub.next_event())
                .await
                .expect("an event in time")
                .expect("event");
            assert_eq!(event, ChannelEvent::Message(Bytes::from(*w)));
        }
        let more = tokio::time::timeout(Duration::from_millis(200), sub.next_event()).await;
        assert!(
            more.is_err(),
            "an event published before subscribing came: {more:?}"
        );
    }
}

/// At most `limit` holders at once, among many callers racing; a holder
/// acquiring again keeps its permit; a released permit and an expired lease
/// are free again.
pub async fn permits_cap_their_holders_and_expire<B: Broker + Permits>(broker: &B) {
    let name = unique_name("permits");
    let lease = Duration::from_secs(30);
    let racers: Vec<_> = (0..10)
        .map(|i| {
            let (b, name) = (broker.clone(), name.clone());
            tokio::spawn(async move {
                b.try_acquire(&name, &format!("h{i}"), 3, lease)
                    .await
                    .expect("acquire")
            })
        })
        .collect();
    let mut holders = Vec::new();
    for (i, r) in racers.into_iter().enumerate() {
        if r.await.expect("racer") {
            holders.push(format!("h{i}"));
        }
    }
    assert_eq!(holders.len(), 3, "exactly the limit got one: {holders:?}");
    assert!(
        broker
            .try_acquire(&name, &holders[0], 3, lease)
            .await
            .expect("renew"),
        "a holder keeps its permit"
    );
    assert!(
        !broker
            .try_acquire(&name, "late", 3, lease)
            .await
            .expect("acquire"),
        "no fourth holder"
    );
    assert!(broker.release(&name, &holders[0]).await.expect("release"));
    assert!(!broker.release(&name, &holders[0]).await.expect("release"));
    assert!(
        broker
            .try_acquire(&name, "late", 3, lease)
            .await
            .expect("acquire"),
        "a released permit is free"
    );
    // A short lease runs out: its holder is taken to have died.
    let short = unique_name("permits");
    assert!(
        broker
            .try_acquire(&short, "gone", 1, Duration::from_millis(100))
            .await
            .expect("acquire")
    );
    assert!(
        !broker
            .try_acquire(&short, "next", 1, lease)
            .await
            .expect("acquire")
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while !broker
        .try_acquire(&short, "next", 1, lease)
        .await
        .expect("acquire")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lease never ran out"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Expands every capability scenario into a test, each given a broker by the
/// async function `$factory` (its type implements every capability).
///
/// `capability_suite!(factory, only: [a, b, ...])` expands the named
/// scenarios only: for a backend that offers some of the capabilities (a
/// `Dedup` that returns `Unsupported`, say), or that cannot count
/// subscribers (`events_reach_every_subscriber_uncounted`).
#[macro_export]
macro_rules! capability_suite {
    ($factory:path) => {
        $crate::capability_suite!(@cases $factory,
            delayed_entries_arrive_when_due,
            due_entries_move_exactly_once_with_many_workers,
            dedup_remembers_ids_for_their_ttl,
            results_can_be_awaited_and_expire,
            results_go_in_and_out_together,
            results_stored_if_absent_never_replace_one,
            results_stored_if_absent_with_events_publish_them_either_way,
            events_reach_every_subscriber,
            events_published_together_arrive_in_order,
            events_before_subscribing_are_not_delivered,
            events_stored_with_results_come_before_what_their_waiters_do,
            permits_cap_their_holders_and_expire,
        );
    };
    ($factory:path, only: [$($name:ident),+ $(,)?]) => {
        $crate::capability_suite!(@cases $factory, $($name),+);
    };
    (@cases $factory:path, $($name:ident),+ $(,)?) => {
        mod capabilities {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let broker = $factory().await;
                    $crate::capabilities::$name(&broker).await;
                }
            )+
        }
    };
}
