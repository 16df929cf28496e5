//! Invariants over random streams, task durations and rebalances: every
//! message reaches the end at least once, commits never pass an unfinished
//! message, and order holds where promised (per partition for RunTaskAsync,
//! per key for KeyedRunTask). The first step takes the messages owned, or
//! borrows them from the record batches the consumer lends.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use weir_core::{
    Broker, CommitRequest, Consumer, ConsumerConfig, Filterable, Message, Partition, Payload,
    Producer, RecordBatch, Topic,
};
use weir_memory::MemoryBroker;
use weir_strategies::{
    CommitOffsets, CommitPolicy, Filter, Incoming, JoinFuture, KeyedRunTask, ProcessingStrategy,
    Progress, RunTaskAsync, StrategyContext, StrategyError, StreamProcessor, SubmitError,
    TaskError,
};

const PARTITIONS: u32 = 3;

/// One input message: its key, how long its task takes, whether the filter keeps it.
#[derive(Clone, Debug)]
struct Input {
    key: u8,
    millis: u64,
    keep: bool,
}

/// What a task returns: where its message came from.
type Done = (u32, u64, u8, u64);

#[derive(Default)]
struct Log {
    /// (partition, offset) that finished (task done, or filtered out).
    finished: BTreeSet<(u32, u64)>,
    /// Per pipeline and partition, the offsets reaching the last step, in order.
    arrivals: HashMap<(u64, u32), Vec<u64>>,
    /// Per pipeline and (partition, key), the offsets whose task finished, in order.
    key_order: HashMap<(u64, u32, u8), Vec<u64>>,
    violations: Vec<String>,
}

type Shared = Arc<Mutex<Log>>;

fn decode(p: &Payload) -> (u8, u64, bool) {
    let v = &p.value;
    (
        v[0],
        u64::from_le_bytes(v[1..9].try_into().unwrap()),
        v[9] == 1,
    )
}

/// The last step: records arrivals and checks every commit it returns.
struct Checked {
    log: Shared,
    pipeline: u64,
    inner: CommitOffsets,
}

impl ProcessingStrategy<Done> for Checked {
    fn attach(&mut self, _: &Progress) {}
    fn submit(&mut self, m: Incoming<Done>) -> Result<(), SubmitError<Done>> {
        if let Some(&(p, o, _, _)) = m.payload().payload() {
            self.log
                .lock()
                .unwrap()
                .arrivals
                .entry((self.pipeline, p))
                .or_default()
                .push(o);
        }
        ProcessingStrategy::<Done>::submit(&mut self.inner, m)
    }
    fn poll(&mut self) -> Result<Option<CommitRequest>, StrategyError> {
        let c = ProcessingStrategy::<Done>::poll(&mut self.inner)?;
        self.check(&c);
        Ok(c)
    }
    fn close(&mut self) {}
    fn terminate(&mut self) {}
    fn join(&mut self, t: Option<Duration>) -> JoinFuture<'_> {
        Box::pin(async move {
            let c = ProcessingStrategy::<Done>::join(&mut self.inner, t).await?;
            self.check(&c);
            Ok(c)
        })
    }
}

impl Checked {
    fn check(&self, c: &Option<CommitRequest>) {
        let Some(c) = c else { return };
        let mut log = self.log.lock().unwrap();
        for (p, next) in c.iter() {
            if let Some(o) = (0..next).find(|o| !log.finished.contains(&(p.index, *o))) {
                let v = format!("commit {p}@{next} passes unfinished offset {o}");
                log.violations.push(v);
            }
        }
    }
}

fn pipeline(
    log: Shared,
    lend: bool,
    keyed: bool,
    concurrency: usize,
    counter: Arc<AtomicU64>,
) -> impl Fn(&StrategyContext) -> Box<dyn ProcessingStrategy<Payload>> + Send + Sync {
    move |_: &StrategyContext| {
        let id = counter.fetch_add(1, Ordering::SeqCst);
        let last = Checked {
            log: log.clone(),
            pipeline: id,
            inner: CommitOffsets::new(),
        };
        let l = log.clone();
        let filter_log = log.clone();
        // The task needs the position: carry it inside the payload we build
        // from the raw message in the filter step's closure below.
        let task = move |(p, o, key, millis): Done| {
            let l = l.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(millis)).await;
                let mut log = l.lock().unwrap();
                log.finished.insert((p, o));
                log.key_order.entry((id, p, key)).or_default().push(o);
                Ok::<_, TaskError>((p, o, key, millis))
            }
        };
        let work: Box<dyn ProcessingStrategy<Done>> = if keyed {
            Box::new(KeyedRunTask::new(
                |d: &Done| (d.0, d.2),
                task,
                concurrency,
                last,
            ))
        } else {
            Box::new(RunTaskAsync::new(task, concurrency, last))
        };
        let positioned = Positioned { next: work };
        let filter = Filter::new(
            move |raw: &Raw| {
                let keep = raw.keep;
                if !keep {
                    filter_log
                        .lock()
                        .unwrap()
                        .finished
                        .insert((raw.partition, raw.offset));
                }
                keep
            },
            positioned,
        );
        Box::new(FromPayload {
            lend,
            next: Box::new(filter),
        }) as Box<dyn ProcessingStrategy<Payload>>
    }
}

/// A raw message with its position, so tasks can report where they came from.
#[derive(Clone, Debug)]
struct Raw {
    partition: u32,
    offset: u64,
    key: u8,
    millis: u64,
    keep: bool,
}

/// Turns raw messages into task inputs.
struct Positioned {
    next: Box<dyn ProcessingStrategy<Done>>,
}

impl ProcessingStrategy<Raw> for Positioned {
    fn attach(&mut self, p: &Progress) {
        self.next.attach(p);
    }
    fn submit(&mut self, m: Incoming<Raw>) -> Result<(), SubmitError<Raw>> {
        let back = m.clone();
        let m = m.map(|f| match f {
            weir_core::Filterable::Payload(r) => {
                weir_core::Filterable::Payload((r.partition, r.offset, r.key, r.millis))
            }
            weir_core::Filterable::Filtered => weir_core::Filterable::Filtered,
        });
        match self.next.submit(m) {
            Ok(()) => Ok(()),
            Err(SubmitError::Rejected(_)) => Err(SubmitError::Rejected(back)),
            Err(SubmitError::Failed(e)) => Err(SubmitError::Failed(e)),
        }
    }
    fn poll(&mut self) -> Result<Option<CommitRequest>, StrategyError> {
        self.next.poll()
    }
    fn close(&mut self) {
        self.next.close();
    }
    fn terminate(&mut self) {
        self.next.terminate();
    }
    fn join(&mut self, t: Option<Duration>) -> JoinFuture<'_> {
        self.next.join(t)
    }
}

/// Reads the raw payload into a [`Raw`] before the pipeline proper; takes
/// lent record batches if `lend`.
struct FromPayload {
    lend: bool,
    next: Box<dyn ProcessingStrategy<Raw>>,
}

fn raw(partition: &Partition, offset: u64, p: &Payload) -> Raw {
    let (key, millis, keep) = decode(p);
    Raw {
        partition: partition.index,
        offset,
        key,
        millis,
        keep,
    }
}

impl ProcessingStrategy<Payload> for FromPayload {
    fn attach(&mut self, p: &Progress) {
        self.next.attach(p);
    }
    fn submit(&mut self, m: Incoming<Payload>) -> Result<(), SubmitError<Payload>> {
        let back = m.clone();
        let (partition, offset) = m.position().map(|(p, o)| (p.clone(), o)).unwrap();
        let m = m.map(|f| match f {
            Filterable::Payload(p) => Filterable::Payload(raw(&partition, offset, &p)),
            Filterable::Filtered => Filterable::Filtered,
        });
        match self.next.submit(m) {
            Ok(()) => Ok(()),
            Err(SubmitError::Rejected(_)) => Err(SubmitError::Rejected(back)),
            Err(SubmitError::Failed(e)) => Err(SubmitError::Failed(e)),
        }
    }
    fn submit_batch(&mut self, batch: &mut RecordBatch) -> Option<Result<(), StrategyError>> {
        if !self.lend {
            return None;
        }
        while let Some(m) = batch.first() {
            let r = raw(&m.partition, m.offset, m.payload);
            let message =
                Message::broker(Filterable::Payload(r), m.partition, m.offset, m.timestamp);
            match self.next.submit(message) {
                Ok(()) => batch.advance(1),
                Err(SubmitError::Rejected(_)) => break,
                Err(SubmitError::Failed(e)) => {
                    batch.advance(1);
                    return Some(Err(e));
                }
            }
        }
        Some(Ok(()))
    }
    fn poll(&mut self) -> Result<Option<CommitRequest>, StrategyError> {
        self.next.poll()
    }
    fn close(&mut self) {
        self.next.close();
    }
    fn terminate(&mut self) {
        self.next.terminate();
    }
    fn join(&mut self, t: Option<Duration>) -> JoinFuture<'_> {
        self.next.join(t)
    }
}

async fn scenario(
    inputs: Vec<Input>,
    lend: bool,
    keyed: bool,
    concurrency: usize,
    join_at: u64,
    leave_at: u64,
) {
    let broker = MemoryBroker::new();
    let topic = Topic::new("prop");
    broker.create_topic(&topic, PARTITIONS).unwrap();
    let producer = broker.producer().await.unwrap();
    let mut expected: BTreeMap<u32, u64> = BTreeMap::new();
    for (i, m) in inputs.iter().enumerate() {
        let mut v = vec![m.key];
        v.extend_from_slice(&m.millis.to_le_bytes());
        v.push(u8::from(m.keep));
        let p = (i as u32) % PARTITIONS;
        producer
            .produce(topic.partition(p).into(), Payload::new(v))
            .await
            .unwrap();
        *expected.entry(p).or_default() += 1;
    }
    let log: Shared = Arc::default();
    let counter = Arc::new(AtomicU64::new(0));
    let start = |name: &'static str| {
        let broker = broker.clone();
        let topic = topic.clone();
        let factory = pipeline(log.clone(), lend, keyed, concurrency, counter.clone());
        async move {
            let consumer = broker
                .consumer(
                    ConsumerConfig::builder("props")
                        .client_id(name)
                        .max_poll_records(7)
                        .build()
                        .expect("a valid consumer config"),
                )
                .await
                .unwrap();
            let p = StreamProcessor::builder(consumer, [topic], factory)
                .commit_policy(CommitPolicy::every(Duration::from_millis(20)))
                .join_timeout(Some(Duration::from_millis(30)))
                .pause_after(Duration::from_millis(10))
                .build();
            let stop = p.shutdown_handle();
            (stop, tokio::spawn(p.run()))
        }
    };
    let (stop_a, a) = start("a").await;
    tokio::time::sleep(Duration::from_millis(join_at)).await;
    let (stop_b, b) = start("b").await;
    tokio::time::sleep(Duration::from_millis(leave_at)).await;
    stop_b.shutdown();
    b.await.unwrap().unwrap();

    // Wait until the group committed everything.
    let mut reader = broker.consumer(ConsumerConfig::new("props")).await.unwrap();
    let parts: Vec<Partition> = (0..PARTITIONS).map(|i| topic.partition(i)).collect();
    let mut done = false;
    for _ in 0..20_000 {
        let c = reader.committed(&parts).await.unwrap();
        if parts
            .iter()
            .all(|p| c[p] == expected.get(&p.index).copied())
        {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop_a.shutdown();
    a.await.unwrap().unwrap();
    assert!(done, "everything is committed in the end");

    let log = log.lock().unwrap();
    assert!(log.violations.is_empty(), "{:?}", log.violations);
    for (i, m) in inputs.iter().enumerate() {
        let p = (i as u32) % PARTITIONS;
        let o = (i as u64) / u64::from(PARTITIONS);
        assert!(
            log.finished.contains(&(p, o)),
            "{p}@{o} ({m:?}) never finished"
        );
    }
    if !keyed {
        for (k, offsets) in &log.arrivals {
            assert!(
                offsets.windows(2).all(|w| w[0] < w[1]),
                "partition order broken in {k:?}: {offsets:?}"
            );
        }
    }
    for (k, offsets) in log.key_order.iter().filter(|_| keyed) {
        assert!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "key order broken in {k:?}: {offsets:?}"
        );
    }
}

fn inputs() -> impl Strategy<Value = Vec<Input>> {
    proptest::collection::vec(
        (0u8..4, 0u64..40, proptest::bool::weighted(0.8)).prop_map(|(key, millis, keep)| Input {
            key,
            millis,
            keep,
        }),
        1..60,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn pipelines_lose_nothing_and_never_commit_past_unfinished_work(
        inputs in inputs(),
        lend in any::<bool>(),
        keyed in any::<bool>(),
        concurrency in 1usize..6,
        join_at in 0u64..200,
        leave_at in 0u64..200,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(scenario(inputs, lend, keyed, concurrency, join_at, leave_at));
    }
}
