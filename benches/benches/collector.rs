//! A `CollectorQueue` next to a raw tokio mpsc channel with the same number
//! of consumer tasks, printed as ratios.
//!
//! Every run of every workload sends the same events on both sides: N
//! payloads, each a fresh buffer (`fresh_payload`), built inside the timed
//! loop by one publisher task. The collectors (and the raw consumers, once
//! per collector) return the payload's length. The clock runs from the first
//! send until every event was processed and the consumers have ended: for
//! the queue, `shutdown` returned (its report counts all N as completed);
//! for the channel, the senders are dropped and every consumer task joined.
//! Building the queue or spawning the raw consumers is not timed. The queue
//! gets detached sends (`send_detached`, no results), the channel's
//! consumers reply to nobody.
//!
//! The sides are interleaved run by run (weir, mpsc, weir, ...), each
//! workload `WEIR_BENCH_RUNS` times (7 for the headline FIFO one-consumer
//! workload, 5 for the others, by default), and every figure is a median
//! with its range, never the best run. A ratio line is the median (and
//! range) of the per-run ratios weir/mpsc.
//!
//! The publisher is a task on the runtime (2 worker threads), except in the
//! `sender-outside` workload, where it is the thread that drives the runtime
//! (`block_on`), as in a synchronous caller: there every wake-up of a
//! consumer crosses from that thread to a worker.
//!
//! Latency: events sent in bursts of 64, each awaited in order (the queue's
//! `EventHandle`, a oneshot reply on the channel), send to result; the
//! medians over the runs of each run's p50 and p99.
//!
//! Settings (environment): `WEIR_BENCH_COLLECTOR_EVENTS` (N, 200,000),
//! `WEIR_BENCH_COLLECTOR_PAYLOAD` (bytes, 64), `WEIR_BENCH_RUNS`,
//! `WEIR_BENCH_COLLECTOR_LATENCY_EVENTS` (20,480; 0 skips the latency part),
//! `WEIR_BENCH_COLLECTOR_RUNTIME` (`multi`: tokio's multi-thread runtime
//! with 2 workers, the default; `current`: a current-thread runtime).
//! Arguments that are not flags select workloads whose name contains them.
//!
//! `cargo bench -p weir-benches --bench collector`

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};
use weir_benches::{
    Spread, env_or, fresh_payload, interleaved, per_second, percentile, runs_from_env,
};
use weir_collector::{BoxError, Collector, CollectorQueue, Context, QueueType};

/// Events waiting at most (the queue's capacity, split across raw channels).
const CAPACITY: usize = 1024;
/// Events per latency burst.
const BURST: usize = 64;

/// Where the publisher runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sender {
    /// A task spawned on the runtime, as a handler or a stream loop would be.
    Task,
    /// The thread that drives the runtime (`block_on`), outside its workers:
    /// every wake-up of a consumer crosses to a worker thread.
    Outside,
}

#[derive(Clone, Copy)]
struct Workload {
    name: &'static str,
    sender: Sender,
    queue_type: QueueType,
    consumers: usize,
    collectors: usize,
    /// Whether this is the headline workload (more runs by default).
    headline: bool,
}

const WORKLOADS: [Workload; 6] = [
    Workload {
        name: "fifo/1-consumer",
        sender: Sender::Task,
        queue_type: QueueType::Fifo,
        consumers: 1,
        collectors: 1,
        headline: true,
    },
    Workload {
        name: "fifo/1-consumer/sender-outside",
        sender: Sender::Outside,
        queue_type: QueueType::Fifo,
        consumers: 1,
        collectors: 1,
        headline: false,
    },
    Workload {
        name: "fifo/4-consumers",
        sender: Sender::Task,
        queue_type: QueueType::Fifo,
        consumers: 4,
        collectors: 1,
        headline: false,
    },
    Workload {
        name: "priority/1-consumer",
        sender: Sender::Task,
        queue_type: QueueType::Priority,
        consumers: 1,
        collectors: 1,
        headline: false,
    },
    Workload {
        name: "priority/4-consumers",
        sender: Sender::Task,
        queue_type: QueueType::Priority,
        consumers: 4,
        collectors: 1,
        headline: false,
    },
    Workload {
        name: "broadcast-4/4-consumers",
        sender: Sender::Task,
        queue_type: QueueType::Fifo,
        consumers: 4,
        collectors: 4,
        headline: false,
    },
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Weir,
    Mpsc,
}

#[derive(Clone, Copy)]
struct Settings {
    events: u64,
    payload: usize,
    latency_events: usize,
}

fn queue(w: Workload) -> CollectorQueue<Bytes, usize> {
    let collectors = (0..w.collectors).map(|i| {
        Collector::builder(format!("len-{i}")).processor(|p: Bytes, _: Context<()>| async move {
            Ok::<_, BoxError>(black_box(p.len()))
        })
    });
    match CollectorQueue::builder()
        .collectors(collectors)
        .consumers(w.consumers, w.consumers)
        .queue_type(w.queue_type)
        .capacity(CAPACITY)
        .build()
    {
        Ok(queue) => queue,
        Err(e) => panic!("bench queue is valid: {e}"),
    }
}

/// Runs the publisher's loop where the workload says.
async fn send_from(sender: Sender, sending: impl Future<Output = ()> + Send + 'static) {
    match sender {
        Sender::Task => {
            if tokio::spawn(sending).await.is_err() {
                panic!("publisher failed");
            }
        }
        Sender::Outside => sending.await,
    }
}

/// The queue's time for `events` detached sends, from the first send until
/// shutdown returned.
async fn weir_run(w: Workload, s: &Settings) -> Duration {
    let Ok(running) = queue(w).start().await else {
        panic!("no setup to fail");
    };
    let publisher = running.publisher();
    let (events, size) = (s.events, s.payload);
    let start = Instant::now();
    let sending = tokio::spawn(async move {
        for seq in 0..events {
            if publisher
                .send_detached(fresh_payload(size, seq))
                .await
                .is_err()
            {
                panic!("queue closed early");
            }
        }
    });
    if sending.await.is_err() {
        panic!("publisher failed");
    }
    let report = running.shutdown().await;
    let took = start.elapsed();
    assert_eq!(report.completed, events, "every event completed");
    took
}

/// The same events through `consumers` tokio channels, fed round-robin, each
/// consumer taking the length once per collector; from the first send until
/// every consumer ended.
async fn mpsc_run(w: Workload, s: &Settings) -> Duration {
    let per = (CAPACITY / w.consumers).max(1);
    let mut senders = Vec::new();
    let mut consumers = Vec::new();
    for _ in 0..w.consumers {
        let (tx, mut rx) = mpsc::channel::<Bytes>(per);
        senders.push(tx);
        let collectors = w.collectors;
        consumers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while let Some(p) = rx.recv().await {
                for _ in 0..collectors {
                    black_box(p.len());
                }
                n += 1;
            }
            n
        }));
    }
    let (events, size) = (s.events, s.payload);
    let start = Instant::now();
    let sending = async move {
        for seq in 0..events {
            let tx = &senders[(seq % senders.len() as u64) as usize];
            if tx.send(fresh_payload(size, seq)).await.is_err() {
                panic!("consumer gone");
            }
        }
    };
    send_from(w.sender, sending).await;
    let mut done = 0;
    for consumer in consumers {
        done += consumer.await.unwrap_or(0);
    }
    let took = start.elapsed();
    assert_eq!(done, events, "every event consumed");
    took
}

/// Send-to-result latency of the queue: bursts of 64 events awaited in order.
async fn weir_latency(w: Workload, s: &Settings) -> Vec<Duration> {
    let Ok(running) = queue(w).start().await else {
        panic!("no setup to fail");
    };
    let publisher = running.publisher();
    let mut out = Vec::with_capacity(s.latency_events);
    let mut seq = 0u64;
    for _ in 0..s.latency_events / BURST {
        let mut pending = Vec::with_capacity(BURST);
        for _ in 0..BURST {
            let sent = Instant::now();
            let Ok(handle) = publisher.send(fresh_payload(s.payload, seq)).await else {
                panic!("closed")
            };
            seq += 1;
            pending.push((sent, handle));
        }
        for (sent, handle) in pending {
            let results = handle.await;
            out.push(sent.elapsed());
            assert!(results.all_ok());
        }
    }
    running.shutdown().await;
    out
}

async fn mpsc_latency(w: Workload, s: &Settings) -> Vec<Duration> {
    let per = (CAPACITY / w.consumers).max(1);
    let mut senders = Vec::new();
    for _ in 0..w.consumers {
        let (tx, mut rx) = mpsc::channel::<(Bytes, oneshot::Sender<usize>)>(per);
        senders.push(tx);
        let collectors = w.collectors;
        tokio::spawn(async move {
            while let Some((p, reply)) = rx.recv().await {
                let mut len = 0;
                for _ in 0..collectors {
                    len = black_box(p.len());
                }
                let _ = reply.send(len);
            }
        });
    }
    let mut out = Vec::with_capacity(s.latency_events);
    let mut seq = 0u64;
    for _ in 0..s.latency_events / BURST {
        let mut pending = Vec::with_capacity(BURST);
        for _ in 0..BURST {
            let sent = Instant::now();
            let (tx, rx) = oneshot::channel();
            let tx_index = (seq % senders.len() as u64) as usize;
            let Ok(()) = senders[tx_index]
                .send((fresh_payload(s.payload, seq), tx))
                .await
            else {
                panic!("consumer gone")
            };
            seq += 1;
            pending.push((sent, rx));
        }
        for (sent, rx) in pending {
            let _ = rx.await;
            out.push(sent.elapsed());
        }
    }
    out
}

async fn joined<T>(task: tokio::task::JoinHandle<T>) -> T {
    match task.await {
        Ok(value) => value,
        Err(e) => panic!("latency run failed: {e}"),
    }
}

fn runtime() -> Runtime {
    let flavor = std::env::var("WEIR_BENCH_COLLECTOR_RUNTIME").unwrap_or_default();
    let built = match flavor.as_str() {
        "current" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        "" | "multi" => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build(),
        other => panic!("$WEIR_BENCH_COLLECTOR_RUNTIME is `multi` or `current`, not {other:?}"),
    };
    match built {
        Ok(rt) => rt,
        Err(e) => panic!("cannot start a tokio runtime: {e}"),
    }
}

fn show(samples: &[f64], decimals: usize) -> String {
    Spread::of(samples).map_or_else(|| "n/a".to_owned(), |s| s.show(decimals))
}

fn throughput(rt: &Runtime, w: Workload, s: &Settings) {
    let runs = runs_from_env(if w.headline { 7 } else { 5 });
    // One untimed round of each side first: allocator and runtime warm.
    let warm = Settings {
        events: s.events.min(20_000),
        ..*s
    };
    rt.block_on(weir_run(w, &warm));
    rt.block_on(mpsc_run(w, &warm));
    let samples = interleaved(runs, &[Side::Weir, Side::Mpsc], |_, side| {
        let took = match side {
            Side::Weir => rt.block_on(weir_run(w, s)),
            Side::Mpsc => rt.block_on(mpsc_run(w, s)),
        };
        per_second(s.events, took)
    });
    let (weir, raw) = (&samples[0], &samples[1]);
    let ratios: Vec<f64> = weir.iter().zip(raw).map(|(a, b)| a / b).collect();
    println!(
        "{:<24} {runs} runs  weir {:>30} ev/s  mpsc {:>30} ev/s",
        w.name,
        show(weir, 0),
        show(raw, 0)
    );
    println!(
        "  per run weir/mpsc: {}",
        ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("ratio weir/mpsc ({}): {}", w.name, show(&ratios, 2));
}

fn latency(rt: &Runtime, w: Workload, s: &Settings) {
    let runs = runs_from_env(5);
    let micros = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e6);
    let samples = interleaved(runs, &[Side::Weir, Side::Mpsc], |_, side| {
        let s = *s;
        let lat = rt.block_on(async move {
            match (side, w.sender) {
                (Side::Weir, Sender::Outside) => weir_latency(w, &s).await,
                (Side::Mpsc, Sender::Outside) => mpsc_latency(w, &s).await,
                (Side::Weir, Sender::Task) => {
                    joined(tokio::spawn(async move { weir_latency(w, &s).await })).await
                }
                (Side::Mpsc, Sender::Task) => {
                    joined(tokio::spawn(async move { mpsc_latency(w, &s).await })).await
                }
            }
        });
        (
            micros(percentile(&lat, 50.0)),
            micros(percentile(&lat, 99.0)),
        )
    });
    let p = |side: usize, f: fn(&(f64, f64)) -> f64| -> Vec<f64> {
        samples[side].iter().map(f).collect()
    };
    println!(
        "{:<24} latency µs p50 weir {} mpsc {}   p99 weir {} mpsc {}",
        w.name,
        show(&p(0, |x| x.0), 1),
        show(&p(1, |x| x.0), 1),
        show(&p(0, |x| x.1), 1),
        show(&p(1, |x| x.1), 1),
    );
}

fn main() {
    let settings = Settings {
        events: env_or("WEIR_BENCH_COLLECTOR_EVENTS", 200_000u64).max(1),
        payload: env_or("WEIR_BENCH_COLLECTOR_PAYLOAD", 64usize),
        latency_events: env_or("WEIR_BENCH_COLLECTOR_LATENCY_EVENTS", 20_480usize),
    };
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let workloads: Vec<Workload> = WORKLOADS
        .into_iter()
        .filter(|w| only.is_empty() || only.iter().any(|o| w.name.contains(o)))
        .collect();
    let rt = runtime();
    println!(
        "\ncollector queue vs raw tokio mpsc: {} events of {} bytes per run, sides interleaved, median (min–max)",
        settings.events, settings.payload
    );
    for w in &workloads {
        throughput(&rt, *w, &settings);
    }
    if settings.latency_events >= BURST {
        println!("\nsend-to-result latency, bursts of {BURST}, median over runs (min–max)");
        for w in &workloads {
            latency(&rt, *w, &settings);
        }
    }
}
