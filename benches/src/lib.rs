//! Shared pieces of Weir's benchmarks: timing a workload outside criterion's
//! sampling and printing throughput side by side with a peer, as ratios.

use std::time::{Duration, Instant};

use weir_core::{CommitRequest, Consumer, ConsumerEvent, Payload, Producer, Topic};

/// Runs `f` `runs` times and returns the fastest wall time (the least disturbed
/// by other work on a shared machine).
pub fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// One workload measured for Weir and for a peer in the same run.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// What was measured.
    pub workload: String,
    /// The peer's name.
    pub peer: &'static str,
    /// How many messages one run moves.
    pub messages: u64,
    /// Weir's best time.
    pub weir: Duration,
    /// The peer's best time.
    pub peer_time: Duration,
}

impl Comparison {
    /// Weir's throughput divided by the peer's.
    pub fn ratio(&self) -> f64 {
        self.peer_time.as_secs_f64() / self.weir.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// Messages per second.
    pub fn rate(messages: u64, time: Duration) -> f64 {
        messages as f64 / time.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

/// Prints the comparisons as a table plus one `ratio weir/PEER (workload): X` line each.
pub fn report(title: &str, rows: &[Comparison]) {
    println!("\n== {title} ==");
    println!(
        "{:<44} {:>14} {:>14} {:>8}",
        "workload", "weir msg/s", "peer msg/s", "ratio"
    );
    for r in rows {
        println!(
            "{:<44} {:>14.0} {:>14.0} {:>8.2}",
            r.workload,
            Comparison::rate(r.messages, r.weir),
            Comparison::rate(r.messages, r.peer_time),
            r.ratio()
        );
    }
    for r in rows {
        println!("ratio weir/{} ({}): {:.2}", r.peer, r.workload, r.ratio());
    }
}

/// A multi-threaded tokio runtime for a benchmark.
pub fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("cannot start a tokio runtime: {e}"),
    }
}

/// Polls `consumer` until it has handed out `n` messages, committing each
/// batch before the next poll: the consuming side of every broker benchmark.
pub async fn consume_and_commit<C: Consumer>(consumer: &mut C, n: u64) {
    let mut got = 0u64;
    while got < n {
        if let ConsumerEvent::Messages(batch) = consumer.poll().await.expect("poll") {
            got += batch.len() as u64;
            let commit: CommitRequest = batch
                .iter()
                .map(|m| (m.partition.clone(), m.next_offset()))
                .collect();
            consumer.commit(&commit).await.expect("commit");
        }
    }
}

/// Produces `messages` copies of `payload`, spread round robin over the
/// `partitions` of `topic`, in batches of `chunk`.
pub async fn fill<P: Producer>(
    producer: &P,
    topic: &Topic,
    partitions: u32,
    messages: u64,
    chunk: u64,
    payload: &Payload,
) {
    let mut i = 0;
    while i < messages {
        let batch = (i..(i + chunk).min(messages))
            .map(|j| {
                (
                    topic.partition((j % u64::from(partitions)) as u32).into(),
                    payload.clone(),
                )
            })
            .collect();
        for r in producer.produce_batch(batch).await {
            r.expect("produced");
        }
        i += chunk;
    }
}
