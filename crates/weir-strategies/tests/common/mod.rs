//! Helpers shared by the processor tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use weir_core::{Broker, Consumer, ConsumerConfig, Partition, Payload, Producer, Topic};
use weir_memory::MemoryBroker;
use weir_strategies::{
    ProcessingStrategy, ProcessingStrategyFactory, ProcessorError, ProcessorReport, ShutdownHandle,
    StrategyContext, StreamProcessor, StreamProcessorBuilder,
};

pub const GROUP: &str = "group";

pub async fn setup(partitions: u32) -> (MemoryBroker, Topic) {
    let broker = MemoryBroker::new();
    let topic = Topic::new("input");
    broker.create_topic(&topic, partitions).unwrap();
    (broker, topic)
}

/// Produces payloads `"{i}"` for `i` in `range` round-robin over the partitions.
pub async fn produce(
    broker: &MemoryBroker,
    topic: &Topic,
    partitions: u32,
    range: std::ops::Range<u64>,
) {
    let producer = broker.producer().await.unwrap();
    let batch = range
        .map(|i| {
            (
                topic.partition((i % u64::from(partitions)) as u32).into(),
                Payload::new(i.to_string()),
            )
        })
        .collect();
    for r in producer.produce_batch(batch).await {
        r.unwrap();
    }
}

pub async fn builder<F>(
    broker: &MemoryBroker,
    topic: &Topic,
    factory: F,
) -> StreamProcessorBuilder<<MemoryBroker as Broker>::Consumer>
where
    F: ProcessingStrategyFactory<Payload> + 'static,
{
    let consumer = broker
        .consumer(
            ConsumerConfig::builder(GROUP)
                .max_poll_records(10)
                .build()
                .expect("a valid consumer config"),
        )
        .await
        .unwrap();
    StreamProcessor::builder(consumer, [topic.clone()], factory)
}

pub fn factory<S, F>(
    make: F,
) -> impl Fn(&StrategyContext) -> Box<dyn ProcessingStrategy<Payload>> + Send + Sync
where
    S: ProcessingStrategy<Payload> + 'static,
    F: Fn() -> S + Send + Sync,
{
    move |_: &StrategyContext| Box::new(make()) as Box<dyn ProcessingStrategy<Payload>>
}

pub struct Running {
    pub stop: ShutdownHandle,
    pub task: JoinHandle<Result<ProcessorReport, ProcessorError>>,
}

pub fn spawn<C: Consumer>(processor: StreamProcessor<C>) -> Running {
    let stop = processor.shutdown_handle();
    Running {
        stop,
        task: tokio::spawn(processor.run()),
    }
}

impl Running {
    pub async fn stop(self) -> Result<ProcessorReport, ProcessorError> {
        self.stop.shutdown();
        self.task.await.unwrap()
    }
}

/// The group's committed offsets, per partition index.
pub async fn committed(
    broker: &MemoryBroker,
    topic: &Topic,
    partitions: u32,
) -> BTreeMap<u32, Option<u64>> {
    let mut c = broker.consumer(ConsumerConfig::new(GROUP)).await.unwrap();
    let parts: Vec<Partition> = (0..partitions).map(|i| topic.partition(i)).collect();
    c.committed(&parts)
        .await
        .unwrap()
        .into_iter()
        .map(|(p, o)| (p.index, o))
        .collect()
}

/// Waits (on the paused clock) until `check` holds, failing after a minute of virtual time.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..6000 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Payload values seen, shared with a test.
#[derive(Clone, Default)]
pub struct Seen(pub Arc<Mutex<Vec<u64>>>);

impl Seen {
    pub fn record(&self, p: &Payload) -> u64 {
        let v: u64 = std::str::from_utf8(&p.value).unwrap().parse().unwrap();
        self.0.lock().unwrap().push(v);
        v
    }
    pub fn values(&self) -> Vec<u64> {
        self.0.lock().unwrap().clone()
    }
}
