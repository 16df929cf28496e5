//! A full pipeline on the memory broker: Filter → RunTaskAsync → Reduce →
//! Produce → CommitOffsets over 4 partitions, with two processors in one
//! group and one of them leaving mid-stream.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use weir::core::{Broker, Consumer, ConsumerConfig, Partition, Payload, Produced, Producer, Topic};
use weir::memory::MemoryBroker;
use weir_strategies::{
    CommitOffsets, CommitPolicy, Filter, ProcessingStrategy, ProcessorReport, Produce, Reduce,
    RunTaskAsync, ShutdownHandle, StrategyContext, StreamProcessor, TaskError,
};

const MESSAGES: u64 = 2_000;
const PARTITIONS: u32 = 4;

fn value(p: &Payload) -> u64 {
    std::str::from_utf8(&p.value)
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("inputs are numbers")
}

/// Kept values are those not divisible by 7; the task doubles them, the
/// batch joins them into one comma-separated payload.
fn factory(
    producer: <MemoryBroker as Broker>::Producer,
    out: Topic,
    pipelines: Arc<AtomicU64>,
) -> impl Fn(&StrategyContext) -> Box<dyn ProcessingStrategy<Payload>> + Send + Sync {
    move |_: &StrategyContext| {
        pipelines.fetch_add(1, Ordering::SeqCst);
        let produce = Produce::new(producer.clone(), out.clone(), 8, CommitOffsets::new());
        let reduce = Reduce::new(
            Payload::default,
            |acc: Payload, x: u64| {
                let mut bytes = acc.value.to_vec();
                bytes.extend_from_slice(format!("{x},").as_bytes());
                Payload::new(bytes)
            },
            50,
            Duration::from_millis(100),
            produce,
        );
        let work = RunTaskAsync::new(
            |p: Payload| async move {
                let v = value(&p);
                tokio::time::sleep(Duration::from_millis(v % 13)).await;
                Ok::<_, TaskError>(v * 2)
            },
            16,
            reduce,
        );
        Box::new(Filter::new(|p: &Payload| !value(p).is_multiple_of(7), work))
    }
}

async fn member(
    broker: &MemoryBroker,
    input: &Topic,
    out: &Topic,
    pipelines: Arc<AtomicU64>,
) -> (ShutdownHandle, tokio::task::JoinHandle<ProcessorReport>) {
    let consumer = broker
        .consumer(
            ConsumerConfig::builder("pipeline")
                .max_poll_records(64)
                .build()
                .expect("a valid consumer config"),
        )
        .await
        .expect("consumer");
    let processor = StreamProcessor::builder(
        consumer,
        [input.clone()],
        factory(
            broker.producer().await.expect("producer"),
            out.clone(),
            pipelines,
        ),
    )
    .commit_policy(CommitPolicy::every(Duration::from_millis(200)))
    .join_timeout(Some(Duration::from_secs(10)))
    .build();
    let stop = processor.shutdown_handle();
    let task =
        tokio::spawn(async move { processor.run().await.expect("the processor stops cleanly") });
    (stop, task)
}

async fn produce(broker: &MemoryBroker, topic: &Topic, range: std::ops::Range<u64>) {
    let producer = broker.producer().await.expect("producer");
    let batch = range
        .map(|i| {
            (
                topic.partition((i % u64::from(PARTITIONS)) as u32).into(),
                Payload::new(i.to_string()),
            )
        })
        .collect();
    for r in producer.produce_batch(batch).await {
        let _: Produced = r.expect("produced");
    }
}

#[tokio::test(start_paused = true)]
async fn two_members_one_leaving_lose_nothing_and_duplicate_little() {
    let broker = MemoryBroker::new();
    let input = Topic::new("pipeline-in");
    let out = Topic::new("pipeline-out");
    broker
        .create_topic(&input, PARTITIONS)
        .expect("input topic");
    broker.create_topic(&out, 1).expect("output topic");
    let pipelines = Arc::new(AtomicU64::new(0));

    produce(&broker, &input, 0..MESSAGES / 2).await;
    let (stop_a, a) = member(&broker, &input, &out, pipelines.clone()).await;
    let (stop_b, b) = member(&broker, &input, &out, pipelines.clone()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    produce(&broker, &input, MESSAGES / 2..MESSAGES).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    // One member leaves mid-stream; the other takes its partitions over.
    stop_b.shutdown();
    let report_b = b.await.expect("member b");

    let mut reader = broker
        .consumer(ConsumerConfig::new("pipeline"))
        .await
        .expect("reader");
    let parts: Vec<Partition> = (0..PARTITIONS).map(|i| input.partition(i)).collect();
    let per_partition = MESSAGES / u64::from(PARTITIONS);
    let mut committed = BTreeMap::new();
    for _ in 0..10_000 {
        committed = reader.committed(&parts).await.expect("committed");
        if committed.values().all(|c| *c == Some(per_partition)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        committed.values().all(|c| *c == Some(per_partition)),
        "everything is committed: {committed:?}"
    );
    stop_a.shutdown();
    let report_a = a.await.expect("member a");
    assert!(
        report_a.messages > 0 && report_b.messages > 0,
        "both members worked: {report_a:?} {report_b:?}"
    );
    assert!(
        pipelines.load(Ordering::SeqCst) >= 3,
        "the rebalances rebuilt pipelines"
    );

    let mut out_reader = weir_testkit::subscribed(&broker, "out-reader", &[out]).await;
    let mut counts: BTreeMap<u64, u32> = BTreeMap::new();
    let expected: Vec<u64> = (0..MESSAGES)
        .filter(|v| v % 7 != 0)
        .map(|v| v * 2)
        .collect();
    let seen = weir_testkit::collect(&mut out_reader, false, |s| {
        let mut distinct = std::collections::BTreeSet::new();
        for m in &s.messages {
            for x in std::str::from_utf8(&m.payload.value)
                .unwrap_or("")
                .split(',')
                .filter(|x| !x.is_empty())
            {
                distinct.insert(x.to_owned());
            }
        }
        distinct.len() >= expected.len()
    })
    .await;
    for m in &seen.messages {
        let text = std::str::from_utf8(&m.payload.value).expect("utf-8");
        for x in text.split(',').filter(|x| !x.is_empty()) {
            *counts.entry(x.parse().expect("a number")).or_default() += 1;
        }
    }
    let missing: Vec<&u64> = expected
        .iter()
        .filter(|v| !counts.contains_key(v))
        .collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    assert!(
        counts.keys().all(|v| v % 14 != 0),
        "filtered values never reach the output"
    );
    let duplicates: u32 = counts.values().map(|c| c - 1).sum();
    // A graceful hand-over joins and commits everything finished first:
    // nothing is processed twice.
    assert_eq!(duplicates, 0, "duplicates after a graceful leave");
}
