//! Counting every message through a fault: what was produced, what was
//! processed and how often, and the verdict (lost, duplicated).
//!
//! ```
//! use weir_core::Payload;
//! use weir_testkit::Tally;
//! let tally = Tally::default();
//! tally.record(&Payload::new("1"));
//! tally.record(&Payload::new("1"));
//! let verdict = tally.verdict(&[0, 1].into_iter().collect());
//! assert_eq!((verdict.lost, verdict.duplicates), (vec![0], 1));
//! ```

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use weir_core::{Destination, Payload, Producer, Topic};

/// How often each message (a payload holding its number) was processed;
/// clones share the counts.
#[derive(Clone, Debug, Default)]
pub struct Tally(Arc<Mutex<HashMap<u64, u32>>>);

/// What a fault test found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Numbers produced but never processed.
    pub lost: Vec<u64>,
    /// Processings beyond the first, over all messages.
    pub duplicates: u64,
    /// Processings in all.
    pub processed: u64,
}

impl Tally {
    /// Counts one processing of `payload` (its value is a number); returns it.
    ///
    /// # Panics
    ///
    /// If the payload is not a number (a test's own data).
    pub fn record(&self, payload: &Payload) -> u64 {
        let n = number(payload);
        self.record_number(n);
        n
    }

    /// Counts one processing of message `n`.
    pub fn record_number(&self, n: u64) {
        *self.lock().entry(n).or_default() += 1;
    }

    /// How many distinct messages were processed.
    pub fn distinct(&self) -> usize {
        self.lock().len()
    }

    /// Whether every one of `produced` was processed.
    pub fn has_all(&self, produced: &BTreeSet<u64>) -> bool {
        let counts = self.lock();
        produced.iter().all(|n| counts.contains_key(n))
    }

    /// What was lost and duplicated, given what was produced.
    pub fn verdict(&self, produced: &BTreeSet<u64>) -> Verdict {
        let counts = self.lock();
        Verdict {
            lost: produced
                .iter()
                .filter(|n| !counts.contains_key(n))
                .copied()
                .collect(),
            duplicates: counts.values().map(|c| u64::from(c - 1)).sum(),
            processed: counts.values().map(|c| u64::from(*c)).sum(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, u32>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The number a test payload holds.
///
/// # Panics
///
/// If it holds none (a test's own data).
pub fn number(payload: &Payload) -> u64 {
    std::str::from_utf8(&payload.value)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a numbered payload: {:?}", payload.value))
}

/// Produces the numbers `range` (each payload its number, as text) to
/// `topic`, `batch` at a time with `pause` between batches, retrying what
/// fails with a transient error (a broker outage) until it is stored, as an
/// application that rides through outages would; returns the numbers the
/// broker acknowledged. Which partition a number lands on is the backend's
/// choice for keyless messages.
///
/// # Panics
///
/// On a permanent error (the test fails with it).
pub async fn produce_through_outages<P: Producer>(
    producer: &P,
    topic: &Topic,
    range: std::ops::Range<u64>,
    batch: usize,
    pause: Duration,
) -> BTreeSet<u64> {
    produce_numbers(producer, |_| topic.into(), range, batch, pause).await
}

/// As [`produce_through_outages`], with number `n` on partition
/// `n % partitions`: every partition gets its share of even a short burst.
/// A backend may put a burst of keyless messages on one partition
/// (librdkafka's sticky partitioner does, for 10 ms at a time), which leaves
/// a test that needs every member of a group busy with one idle member.
///
/// # Panics
///
/// On a permanent error, or if `partitions` is 0.
pub async fn produce_spread_through_outages<P: Producer>(
    producer: &P,
    topic: &Topic,
    partitions: u32,
    range: std::ops::Range<u64>,
    batch: usize,
    pause: Duration,
) -> BTreeSet<u64> {
    assert!(partitions > 0, "a topic has at least one partition");
    let of = |n: u64| {
        let index = u32::try_from(n % u64::from(partitions)).expect("below a u32 count");
        topic.partition(index).into()
    };
    produce_numbers(producer, of, range, batch, pause).await
}

/// Produces each number of `range` to `destination(n)`, as
/// [`produce_through_outages`] describes.
async fn produce_numbers<P: Producer>(
    producer: &P,
    destination: impl Fn(u64) -> Destination,
    range: std::ops::Range<u64>,
    batch: usize,
    pause: Duration,
) -> BTreeSet<u64> {
    let mut acked = BTreeSet::new();
    let numbers: Vec<u64> = range.collect();
    for chunk in numbers.chunks(batch.max(1)) {
        let mut pending: Vec<u64> = chunk.to_vec();
        while !pending.is_empty() {
            let sent = pending
                .iter()
                .map(|n| (destination(*n), Payload::new(n.to_string())))
                .collect();
            let results = producer.produce_batch(sent).await;
            let mut failed = Vec::new();
            for (n, r) in pending.iter().zip(results) {
                match r {
                    Ok(_) => {
                        acked.insert(*n);
                    }
                    Err(e) if e.is_transient() => failed.push(*n),
                    Err(e) => panic!("producing {n} failed for good: {e:?}"),
                }
            }
            if !failed.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            pending = failed;
        }
        tokio::time::sleep(pause).await;
    }
    acked
}
