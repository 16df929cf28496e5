//! Helpers for tests that talk to a broker: unique topics, subscribed
//! consumers, producing numbered messages, collecting with a deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use weir_core::{
    Admin, Broker, BrokerValue, Consumer, ConsumerConfig, ConsumerEvent, Destination, Payload,
    Producer, Topic,
};

/// How long a helper waits for something that should happen before failing
/// the test. Generous: real brokers take seconds to form a group.
pub const WAIT: Duration = Duration::from_secs(60);

/// A name no other test in this process or on this server has used.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{nanos:x}-{n}", std::process::id())
}

/// Creates a fresh topic with `partitions` partitions.
pub async fn new_topic<B: Broker>(broker: &B, prefix: &str, partitions: u32) -> Topic {
    let topic = Topic::new(unique_name(prefix));
    let admin = broker.admin().await.expect("the admin connects");
    admin
        .create_topic(&topic, partitions)
        .await
        .unwrap_or_else(|e| panic!("creating {topic}: {e}"));
    topic
}

/// Deletes `topic`, which must exist.
pub async fn delete_topic<B: Broker>(broker: &B, topic: &Topic) {
    let admin = broker.admin().await.expect("the admin connects");
    admin
        .delete_topic(topic)
        .await
        .unwrap_or_else(|e| panic!("deleting {topic}: {e}"));
}

/// A consumer in `group` (100 messages a poll at most), subscribed to `topics`.
pub async fn subscribed<B: Broker>(broker: &B, group: &str, topics: &[Topic]) -> B::Consumer {
    subscribed_with(
        broker,
        ConsumerConfig::builder(group)
            .max_poll_records(100)
            .build()
            .expect("a valid consumer config"),
        topics,
    )
    .await
}

/// A consumer made with `config`, subscribed to `topics`.
pub async fn subscribed_with<B: Broker>(
    broker: &B,
    config: ConsumerConfig,
    topics: &[Topic],
) -> B::Consumer {
    let mut c = broker
        .consumer(config)
        .await
        .expect("the consumer connects");
    c.subscribe(topics)
        .await
        .expect("subscribing to existing topics works");
    c
}

/// The payload `"{tag}-{i}"`.
pub fn numbered(tag: &str, i: usize) -> Payload {
    Payload::new(format!("{tag}-{i}"))
}

/// Produces `"{tag}-0" .. "{tag}-{n-1}"` to `destination`, in order.
pub async fn produce_numbered<P: Producer>(
    producer: &P,
    destination: Destination,
    tag: &str,
    n: usize,
) {
    let batch = (0..n)
        .map(|i| (destination.clone(), numbered(tag, i)))
        .collect();
    for r in producer.produce_batch(batch).await {
        r.unwrap_or_else(|e| panic!("producing to {destination:?}: {e}"));
    }
}

/// What a consumer saw while [`collect`] drove it.
#[derive(Debug, Default)]
pub struct Seen {
    /// Every message, in arrival order.
    pub messages: Vec<BrokerValue<Payload>>,
    /// Every assignment event's partitions and start offsets.
    pub assigned: Vec<BTreeMap<weir_core::Partition, u64>>,
    /// Every revocation event's partitions.
    pub revoked: Vec<BTreeSet<weir_core::Partition>>,
}

impl Seen {
    /// The payload values as strings.
    pub fn values(&self) -> Vec<String> {
        self.messages
            .iter()
            .map(|m| String::from_utf8_lossy(&m.payload.value).into_owned())
            .collect()
    }
}

/// Polls `consumer` until `done(&seen)` holds, failing the test after [`WAIT`].
/// With `commit`, commits each batch of messages as it arrives.
pub async fn collect<C: Consumer>(
    consumer: &mut C,
    commit: bool,
    done: impl Fn(&Seen) -> bool,
) -> Seen {
    let mut seen = Seen::default();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done(&seen) {
        let event = tokio::time::timeout_at(deadline, consumer.poll())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "timed out after {WAIT:?}: {} messages seen: {:?}",
                    seen.messages.len(),
                    seen.values().iter().take(20).collect::<Vec<_>>()
                )
            })
            .expect("poll works");
        match event {
            ConsumerEvent::Assigned(a) => seen.assigned.push(a),
            ConsumerEvent::Revoked(r) => seen.revoked.push(r),
            ConsumerEvent::Messages(batch) => {
                if commit {
                    let req = batch.iter().collect();
                    consumer
                        .commit(&req)
                        .await
                        .expect("committing owned partitions works");
                }
                seen.messages.extend(batch);
            }
        }
    }
    seen
}

/// Polls until the consumer owns at least one partition.
pub async fn until_assigned<C: Consumer>(consumer: &mut C) -> Seen {
    collect(consumer, false, |s| !s.assigned.is_empty()).await
}

/// Polls for `quiet` and returns what arrived (for "nothing more comes" checks).
pub async fn poll_quietly<C: Consumer>(
    consumer: &mut C,
    quiet: Duration,
) -> Vec<BrokerValue<Payload>> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + quiet;
    while let Ok(event) = tokio::time::timeout_at(deadline, consumer.poll()).await {
        if let ConsumerEvent::Messages(m) = event.expect("poll works") {
            out.extend(m);
        }
    }
    out
}
