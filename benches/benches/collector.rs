//! Throughput and latency of a `CollectorQueue` next to a raw tokio channel
//! with the same number of consumer tasks, in one run, printed as ratios.
//!
//! `cargo bench -p weir-benches --bench collector`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};
use weir_collector::{BoxError, Collector, CollectorQueue, Context, QueueType};

/// Events per measured batch.
const EVENTS: u64 = 20_000;
/// Events waiting at most (the queue's capacity, split across raw channels).
const CAPACITY: usize = 1024;

#[derive(Clone, Copy)]
struct Workload {
    name: &'static str,
    queue_type: QueueType,
    consumers: usize,
    collectors: usize,
}

const WORKLOADS: [Workload; 5] = [
    Workload {
        name: "fifo/1-consumer",
        queue_type: QueueType::Fifo,
        consumers: 1,
        collectors: 1,
    },
    Workload {
        name: "fifo/4-consumers",
        queue_type: QueueType::Fifo,
        consumers: 4,
        collectors: 1,
    },
    Workload {
        name: "priority/1-consumer",
        queue_type: QueueType::Priority,
        consumers: 1,
        collectors: 1,
    },
    Workload {
        name: "priority/4-consumers",
        queue_type: QueueType::Priority,
        consumers: 4,
        collectors: 1,
    },
    Workload {
        name: "broadcast-4/4-consumers",
        queue_type: QueueType::Fifo,
        consumers: 4,
        collectors: 4,
    },
];

fn queue(w: Workload) -> CollectorQueue<u64, u64> {
    let collectors = (0..w.collectors).map(|i| {
        Collector::builder(format!("noop-{i}"))
            .processor(|n: u64, _: Context<()>| async move { Ok::<_, BoxError>(black_box(n)) })
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

/// Sends `EVENTS` detached (fire-and-forget) events through a queue and
/// drains it.
async fn weir_batch(w: Workload) {
    let Ok(running) = queue(w).start().await else {
        panic!("no setup to fail");
    };
    let publisher = running.publisher();
    for i in 0..EVENTS {
        if publisher.send_detached(i).await.is_err() {
            panic!("queue closed early");
        }
    }
    let report = running.shutdown().await;
    assert_eq!(report.completed, EVENTS);
}

/// The same through `consumers` tokio channels, fed round-robin, each
/// consumer calling the no-op once per collector.
async fn raw_batch(w: Workload) {
    let per = (CAPACITY / w.consumers).max(1);
    let mut senders = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..w.consumers {
        let (tx, mut rx) = mpsc::channel::<u64>(per);
        senders.push(tx);
        let collectors = w.collectors;
        tasks.push(tokio::spawn(async move {
            while let Some(n) = rx.recv().await {
                for _ in 0..collectors {
                    black_box(n);
                }
            }
        }));
    }
    for i in 0..EVENTS {
        let tx = &senders[(i as usize) % senders.len()];
        if tx.send(i).await.is_err() {
            panic!("consumer gone");
        }
    }
    drop(senders);
    for task in tasks {
        let _ = task.await;
    }
}

fn runtime() -> Runtime {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("runtime: {e}"),
    }
}

fn throughput(c: &mut Criterion, rt: &Runtime) {
    let mut group = c.benchmark_group("collector");
    group.throughput(Throughput::Elements(EVENTS));
    for w in WORKLOADS {
        group.bench_function(format!("weir/{}", w.name), |b| {
            b.to_async(rt).iter(|| weir_batch(w))
        });
        group.bench_function(format!("raw/{}", w.name), |b| {
            b.to_async(rt).iter(|| raw_batch(w))
        });
    }
    group.finish();
}

/// Events per second of each side: the best of a few batches, run
/// alternately so that load from elsewhere on the machine hits both alike.
fn rates<W, WF, R, RF>(rt: &Runtime, weir: W, raw: R) -> (f64, f64)
where
    W: Fn() -> WF,
    WF: std::future::Future<Output = ()>,
    R: Fn() -> RF,
    RF: std::future::Future<Output = ()>,
{
    rt.block_on(weir());
    rt.block_on(raw());
    let time = |f: &dyn Fn()| {
        let start = Instant::now();
        f();
        start.elapsed()
    };
    let (mut best_weir, mut best_raw) = (Duration::MAX, Duration::MAX);
    for _ in 0..9 {
        best_weir = best_weir.min(time(&|| rt.block_on(weir())));
        best_raw = best_raw.min(time(&|| rt.block_on(raw())));
    }
    let rate = |d: Duration| EVENTS as f64 / d.as_secs_f64().max(f64::MIN_POSITIVE);
    (rate(best_weir), rate(best_raw))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

/// Send-to-result latency, bursts of 64 events awaited in order.
async fn weir_latency(w: Workload, events: usize) -> Vec<Duration> {
    let Ok(running) = queue(w).start().await else {
        panic!("no setup to fail");
    };
    let publisher = running.publisher();
    let mut out = Vec::with_capacity(events);
    for _ in 0..events / 64 {
        let mut pending = Vec::with_capacity(64);
        for i in 0..64 {
            let sent = Instant::now();
            let Ok(handle) = publisher.send(i).await else {
                panic!("closed")
            };
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

async fn raw_latency(w: Workload, events: usize) -> Vec<Duration> {
    let per = (CAPACITY / w.consumers).max(1);
    let mut senders = Vec::new();
    for _ in 0..w.consumers {
        let (tx, mut rx) = mpsc::channel::<(u64, oneshot::Sender<u64>)>(per);
        senders.push(tx);
        let collectors = w.collectors;
        tokio::spawn(async move {
            while let Some((n, reply)) = rx.recv().await {
                for _ in 0..collectors {
                    black_box(n);
                }
                let _ = reply.send(n);
            }
        });
    }
    let mut out = Vec::with_capacity(events);
    for burst in 0..events / 64 {
        let mut pending = Vec::with_capacity(64);
        for i in 0..64 {
            let sent = Instant::now();
            let (tx, rx) = oneshot::channel();
            let Ok(()) = senders[(burst * 64 + i) % senders.len()]
                .send((i as u64, tx))
                .await
            else {
                panic!("consumer gone")
            };
            pending.push((sent, rx));
        }
        for (sent, rx) in pending {
            let _ = rx.await;
            out.push(sent.elapsed());
        }
    }
    out
}

fn report(rt: &Runtime) {
    println!();
    println!(
        "collector queue vs raw tokio mpsc ({EVENTS} no-op events per batch, best of 9, alternating)"
    );
    // COLLECTOR_BENCH_ONLY=fifo limits the report to matching workloads.
    let only = std::env::var("COLLECTOR_BENCH_ONLY").unwrap_or_default();
    for w in WORKLOADS
        .into_iter()
        .filter(|w| w.name.contains(only.as_str()))
    {
        let (weir, raw) = rates(rt, || weir_batch(w), || raw_batch(w));
        let mut weir_lat = rt.block_on(weir_latency(w, 20_480));
        let mut raw_lat = rt.block_on(raw_latency(w, 20_480));
        weir_lat.sort();
        raw_lat.sort();
        println!(
            "{:<24} weir {:>10.0} ev/s  raw {:>10.0} ev/s  weir/raw ratio: {:.2}  latency p50/p99 weir {:?}/{:?} raw {:?}/{:?}",
            w.name,
            weir,
            raw,
            weir / raw,
            percentile(&weir_lat, 0.50),
            percentile(&weir_lat, 0.99),
            percentile(&raw_lat, 0.50),
            percentile(&raw_lat, 0.99),
        );
    }
}

fn main() {
    let rt = runtime();
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    throughput(&mut c, &rt);
    c.final_summary();
    report(&rt);
}
