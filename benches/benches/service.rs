//! weir-service request/response round trips next to the same round trip
//! done by hand with raw weir consumers and producers: the overhead of the
//! service base (its StreamProcessor consumers, codec, retries wrapper,
//! metrics, correlation bookkeeping).
//!
//! For 1, 16 and 256 requests in flight, on the memory broker and on a
//! redis-server of the bench's own: round trips per second and the p50 and
//! p99 latency of one round trip. Every configuration runs `ROUNDS` times,
//! the service and the hand-made version interleaved, and the median is
//! printed with the range (min–max) of the runs. The Prometheus recorder is
//! installed, so the service pays for its metrics as in production.
//!
//! The hand-made server reads a batch, answers it with one `produce_batch`
//! and commits; the hand-made client matches responses to requests with a
//! map of one-shot channels, as the service's client does.
//!
//! `cargo xtask bench service`

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use weir_core::{
    Broker, BrokerExt, CommitRequest, Consumer, ConsumerConfig, ConsumerEvent, Destination,
    OffsetReset, Payload, Producer, Topic,
};
use weir_memory::MemoryBroker;
use weir_redis::{RedisBroker, RedisConfig};
use weir_service::request::wire::HEADER_CORRELATION_ID;
use weir_service::{ConsumerSpec, Context, HandlerError, Health, Received, RequestClient, Service};
use weir_strategies::ShutdownHandle;
use weir_testkit::servers::redis::RedisServer;

const ROUNDS: usize = 5;
const IN_FLIGHT: [usize; 3] = [1, 16, 256];

/// Round trips per run for `in_flight` requests at once.
fn round_trips(backend: &str, in_flight: usize) -> usize {
    let base = match in_flight {
        1 => 1_000,
        16 => 8_000,
        _ => 20_000,
    };
    if backend == "redis" { base / 2 } else { base }
}

fn body() -> String {
    "x".repeat(100)
}

/// One run: how long it took and each round trip's latency.
struct Run {
    elapsed: Duration,
    latencies: Vec<Duration>,
}

/// Sends `total` requests through `ask`, `in_flight` at a time.
async fn drive<F, Fut>(total: usize, in_flight: usize, ask: F) -> Run
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let started = Instant::now();
    let workers: Vec<_> = (0..in_flight)
        .map(|w| {
            let ask = ask.clone();
            let n = total / in_flight + usize::from(w < total % in_flight);
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(n);
                for _ in 0..n {
                    let t = Instant::now();
                    ask().await;
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(total);
    for w in workers {
        latencies.extend(w.await.expect("a worker"));
    }
    Run {
        elapsed: started.elapsed(),
        latencies,
    }
}

/// The service side and its client.
struct ServiceSide {
    client: RequestClient<String, String>,
}

async fn start_service<B: Broker>(broker: &B, tag: &str) -> ServiceSide {
    let topic = Topic::new(format!("svc-requests-{tag}"));
    let service =
        Service::builder(format!("bench-{tag}"))
            .concurrency(256)
            .consumer(
                ConsumerSpec::responder(
                    "echo",
                    topic.clone(),
                    |r: Received<String>, _ctx: Context| async move {
                        Ok::<String, HandlerError>(r.value)
                    },
                )
                .partitions(4),
            )
            .build()
            .expect("a valid service");
    let (b, stop) = (broker.clone(), ShutdownHandle::default());
    tokio::spawn(async move { service.run(&b, &stop, &Health::new()).await });
    let client = RequestClient::builder(format!("bench-client-{tag}"), topic)
        .timeout(Duration::from_secs(60))
        .connect(broker)
        .await
        .expect("the client connects");
    ServiceSide { client }
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<()>>>>;

/// The hand-made side: a raw server loop and a raw client.
#[derive(Clone)]
struct RawSide<P> {
    producer: P,
    requests: Topic,
    pending: Pending,
    next: Arc<AtomicU64>,
}

async fn start_raw<B: Broker>(broker: &B, tag: &str) -> RawSide<B::Producer> {
    let requests = Topic::new(format!("raw-requests-{tag}"));
    let responses = Topic::new(format!("raw-responses-{tag}"));
    broker
        .create_topic(&requests, 4)
        .await
        .expect("requests topic");
    broker
        .create_topic(&responses, 1)
        .await
        .expect("responses topic");
    let producer = broker.producer().await.expect("producer");
    // The server: read a batch, answer it in one produce_batch, commit.
    let mut server = broker
        .consumer(ConsumerConfig::new(format!("raw-server-{tag}")))
        .await
        .expect("server consumer");
    server
        .subscribe(std::slice::from_ref(&requests))
        .await
        .expect("subscribe");
    let (p, to) = (producer.clone(), responses.clone());
    tokio::spawn(async move {
        loop {
            if let ConsumerEvent::Messages(batch) = server.poll().await.expect("server poll") {
                let answers = batch
                    .iter()
                    .map(|m| {
                        let mut payload = Payload::new(m.payload.value.clone());
                        if let Some(id) = m.payload.headers.get(HEADER_CORRELATION_ID) {
                            payload.headers.insert(HEADER_CORRELATION_ID, id.clone());
                        }
                        (Destination::Topic(to.clone()), payload)
                    })
                    .collect();
                for r in p.produce_batch(answers).await {
                    r.expect("answer produced");
                }
                let commit: CommitRequest = batch.iter().collect();
                server.commit(&commit).await.expect("server commit");
            }
        }
    });
    // The client's response reader.
    let config = ConsumerConfig::builder(format!("raw-client-{tag}"))
        .offset_reset(OffsetReset::Latest)
        .build()
        .expect("config");
    let mut reader = broker.consumer(config).await.expect("reader");
    reader
        .subscribe(std::slice::from_ref(&responses))
        .await
        .expect("subscribe");
    while !matches!(
        reader.poll().await.expect("poll"),
        ConsumerEvent::Assigned(_)
    ) {}
    let pending: Pending = Arc::default();
    let map = Arc::clone(&pending);
    tokio::spawn(async move {
        loop {
            if let ConsumerEvent::Messages(batch) = reader.poll().await.expect("reader poll") {
                let mut map = map.lock().expect("pending");
                for m in &batch {
                    let id = m
                        .payload
                        .headers
                        .get(HEADER_CORRELATION_ID)
                        .and_then(|v| std::str::from_utf8(v).ok())
                        .and_then(|v| v.parse::<u64>().ok());
                    if let Some(tx) = id.and_then(|id| map.remove(&id)) {
                        let _ = tx.send(());
                    }
                }
            }
        }
    });
    RawSide {
        producer,
        requests,
        pending,
        next: Arc::default(),
    }
}

impl<P: Producer + Clone> RawSide<P> {
    async fn ask(&self, body: &str) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending").insert(id, tx);
        let payload =
            Payload::new(body.to_owned()).with_header(HEADER_CORRELATION_ID, id.to_string());
        self.producer
            .produce(Destination::Topic(self.requests.clone()), payload)
            .await
            .expect("request produced");
        rx.await.expect("answered");
    }
}

/// Median and range of runs: (round trips/s, p50, p99).
#[derive(Default)]
struct Figures {
    rates: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
}

impl Figures {
    fn add(&mut self, run: &Run) {
        let mut l: Vec<f64> = run
            .latencies
            .iter()
            .map(|d| d.as_secs_f64() * 1e3)
            .collect();
        l.sort_by(f64::total_cmp);
        let at = |q: f64| l[((l.len() as f64 * q) as usize).min(l.len() - 1)];
        self.rates
            .push(run.latencies.len() as f64 / run.elapsed.as_secs_f64());
        self.p50.push(at(0.50));
        self.p99.push(at(0.99));
    }

    fn line(v: &[f64], digits: usize) -> String {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        let (min, med, max) = (s[0], s[s.len() / 2], s[s.len() - 1]);
        format!("{med:.digits$} ({min:.digits$}–{max:.digits$})")
    }
}

async fn bench_backend<B: Broker>(
    broker: B,
    name: &'static str,
    table: &mut Vec<(String, Figures, Figures)>,
) {
    let service = start_service(&broker, name).await;
    let raw = start_raw(&broker, name).await;
    let mut figures: Vec<(Figures, Figures)> =
        IN_FLIGHT.iter().map(|_| Default::default()).collect();
    for _ in 0..ROUNDS {
        for (i, &in_flight) in IN_FLIGHT.iter().enumerate() {
            let total = round_trips(name, in_flight);
            let client = service.client.clone();
            let run = drive(total, in_flight, move || {
                let client = client.clone();
                async move {
                    client.request(&body()).await.expect("answered");
                }
            })
            .await;
            figures[i].0.add(&run);
            let r = raw.clone();
            let run = drive(total, in_flight, move || {
                let r = r.clone();
                async move { r.ask(&body()).await }
            })
            .await;
            figures[i].1.add(&run);
        }
    }
    for (in_flight, (s, r)) in IN_FLIGHT.iter().zip(figures) {
        table.push((format!("{name}, {in_flight} in flight"), s, r));
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    weir_service::prometheus();
    let rt = weir_benches::runtime();
    let mut table = Vec::new();
    rt.block_on(async {
        bench_backend(MemoryBroker::new(), "memory", &mut table).await;
        let server = RedisServer::start();
        let config = RedisConfig::builder(server.url())
            .block_time(Duration::from_millis(50))
            .build()
            .expect("config");
        let redis = RedisBroker::connect(config).await.expect("redis answers");
        bench_backend(redis, "redis", &mut table).await;
        drop(server);
    });
    println!(
        "\n== request/response: weir-service vs hand-made raw weir (median of {ROUNDS} interleaved runs, range) =="
    );
    println!(
        "{:<24} {:>34} {:>34} {:>30} {:>30}",
        "", "service rt/s", "raw rt/s", "service p50 / p99 ms", "raw p50 / p99 ms"
    );
    for (what, s, r) in &table {
        println!(
            "{what:<24} {:>34} {:>34} {:>30} {:>30}",
            Figures::line(&s.rates, 0),
            Figures::line(&r.rates, 0),
            format!("{} / {}", med(&s.p50), med(&s.p99)),
            format!("{} / {}", med(&r.p50), med(&r.p99)),
        );
        println!(
            "    p50 ms service {} raw {}; p99 ms service {} raw {}",
            Figures::line(&s.p50, 2),
            Figures::line(&r.p50, 2),
            Figures::line(&s.p99, 2),
            Figures::line(&r.p99, 2)
        );
    }
    for (what, s, r) in &table {
        println!(
            "ratio service/raw ({what}): {:.2}",
            med_raw(&s.rates) / med_raw(&r.rates)
        );
    }
}

fn med_raw(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

fn med(v: &[f64]) -> String {
    format!("{:.2}", med_raw(v))
}
