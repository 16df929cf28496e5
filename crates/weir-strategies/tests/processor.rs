//! The StreamProcessor on the memory broker: commits, backpressure,
//! rebalancing, dead letters, invalid limits, panics and shutdown.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use weir_core::{
    Broker, CommitRequest, ConsumerConfig, Filterable, Message, Payload, RecordBatch, Topic,
};
use weir_strategies::{
    Batch, CommitOffsets, CommitPolicy, DeadLetterQueue, Filter, HEADER_OFFSET, HEADER_PARTITION,
    HEADER_REASON, HEADER_TOPIC, Incoming, InvalidLimit, InvalidPolicy, JoinFuture, Pipeline,
    ProcessingStrategy, ProcessorError, Progress, RunTask, StrategyError, SubmitError, TaskError,
};

fn all_committed(
    n: u64,
    partitions: u32,
) -> impl Fn(&std::collections::BTreeMap<u32, Option<u64>>) -> bool {
    move |c| {
        (0..partitions).all(|i| c.get(&i).copied().flatten() == Some(n / u64::from(partitions)))
    }
}

#[tokio::test(start_paused = true)]
async fn processes_every_message_and_commits_it() {
    processes_in_order_and_commits(100, |s| {
        RunTask::new(move |p: Payload| Ok(s.record(&p)), CommitOffsets::new())
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_borrowing_pipeline_reads_lent_batches_and_commits_everything() {
    // More than a chunk of the log (1024 messages) per partition, so that
    // full chunks are lent and the one being filled is copied.
    processes_in_order_and_commits(5000, |s| {
        Pipeline::new()
            .map_ref(move |p: &Payload| Ok(s.record(p)))
            .commit()
    })
    .await;
}

/// Runs the pipeline `make` builds (recording into the `Seen` it is
/// given) over `n` messages on 2 partitions: each is seen once, each
/// partition's in order, and all are committed.
async fn processes_in_order_and_commits<S, F>(n: u64, make: F)
where
    S: ProcessingStrategy<Payload> + 'static,
    F: Fn(Seen) -> S + Send + Sync + 'static,
{
    let (broker, topic) = setup(2).await;
    produce(&broker, &topic, 2, 0..n).await;
    let seen = Seen::default();
    let s = seen.clone();
    let p = builder(&broker, &topic, factory(move || make(s.clone())))
        .await
        .build();
    let running = spawn(p);
    let done = all_committed(n, 2);
    eventually("all are committed", || async {
        done(&committed(&broker, &topic, 2).await)
    })
    .await;
    let report = running.stop().await.unwrap();
    assert_eq!(report.messages, n);
    let v = seen.values();
    for parity in 0..2 {
        let of_partition: Vec<u64> = v.iter().copied().filter(|i| i % 2 == parity).collect();
        let expected: Vec<u64> = (0..n).filter(|i| i % 2 == parity).collect();
        assert_eq!(of_partition, expected, "each partition in order, once");
    }
}

#[tokio::test(start_paused = true)]
async fn commit_policy_by_count_then_forced_on_shutdown() {
    let (broker, topic) = setup(1).await;
    produce(&broker, &topic, 1, 0..25).await;
    let p = builder(
        &broker,
        &topic,
        factory(|| RunTask::new(|p: Payload| Ok(p), CommitOffsets::new())),
    )
    .await
    .commit_policy(CommitPolicy::after_messages(10))
    .build();
    let running = spawn(p);
    eventually("20 are committed", || async {
        committed(&broker, &topic, 1).await[&0] == Some(20)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        committed(&broker, &topic, 1).await[&0],
        Some(20),
        "no time-based commit"
    );
    running.stop().await.unwrap();
    assert_eq!(
        committed(&broker, &topic, 1).await[&0],
        Some(25),
        "shutdown commits the rest"
    );
}

#[tokio::test(start_paused = true)]
async fn commit_policy_by_time() {
    let (broker, topic) = setup(1).await;
    produce(&broker, &topic, 1, 0..5).await;
    let start = tokio::time::Instant::now();
    let p = builder(
        &broker,
        &topic,
        factory(|| RunTask::new(|p: Payload| Ok(p), CommitOffsets::new())),
    )
    .await
    .commit_policy(CommitPolicy::every(Duration::from_secs(5)))
    .build();
    let running = spawn(p);
    eventually("5 are committed", || async {
        committed(&broker, &topic, 1).await[&0] == Some(5)
    })
    .await;
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(6),
        "{waited:?}"
    );
    running.stop().await.unwrap();
}

/// A last step that takes `capacity` messages, then rejects until the test
/// opens it further; commits what it took.
#[derive(Clone, Default)]
struct Gate {
    capacity: Arc<AtomicUsize>,
    taken: Arc<AtomicUsize>,
    progress: Arc<Mutex<Option<Progress>>>,
}

impl Gate {
    fn open(&self, more: usize) {
        self.capacity.fetch_add(more, Ordering::SeqCst);
        if let Some(p) = &*self.progress.lock().unwrap() {
            p.notify();
        }
    }
}

/// Takes lent record batches as well if its flag is set.
struct GateStep(Gate, CommitOffsets, bool);

impl ProcessingStrategy<Payload> for GateStep {
    fn attach(&mut self, progress: &Progress) {
        *self.0.progress.lock().unwrap() = Some(progress.clone());
    }
    fn submit(&mut self, m: Incoming<Payload>) -> Result<(), SubmitError<Payload>> {
        if self.0.taken.load(Ordering::SeqCst) >= self.0.capacity.load(Ordering::SeqCst) {
            return Err(SubmitError::Rejected(m));
        }
        self.0.taken.fetch_add(1, Ordering::SeqCst);
        self.1.submit(m)
    }
    fn submit_batch(&mut self, batch: &mut RecordBatch) -> Option<Result<(), StrategyError>> {
        if !self.2 {
            return None;
        }
        while let Some(m) = batch.first() {
            if self.0.taken.load(Ordering::SeqCst) >= self.0.capacity.load(Ordering::SeqCst) {
                break;
            }
            self.0.taken.fetch_add(1, Ordering::SeqCst);
            let m = Message::broker(
                Filterable::Payload(m.payload.clone()),
                m.partition,
                m.offset,
                m.timestamp,
            );
            ProcessingStrategy::<Payload>::submit(&mut self.1, m).unwrap();
            batch.advance(1);
        }
        Some(Ok(()))
    }
    fn poll(&mut self) -> Result<Option<CommitRequest>, StrategyError> {
        ProcessingStrategy::<Payload>::poll(&mut self.1)
    }
    fn close(&mut self) {}
    fn terminate(&mut self) {}
    fn join(&mut self, t: Option<Duration>) -> JoinFuture<'_> {
        ProcessingStrategy::<Payload>::join(&mut self.1, t)
    }
}

#[tokio::test(start_paused = true)]
async fn backpressure_pauses_after_the_threshold_and_resumes_without_loss() {
    backpressure_pauses_and_resumes_without_loss(false).await;
}

#[tokio::test(start_paused = true)]
async fn backpressure_on_lent_batches_pauses_and_resumes_without_loss() {
    backpressure_pauses_and_resumes_without_loss(true).await;
}

async fn backpressure_pauses_and_resumes_without_loss(lend: bool) {
    let (broker, topic) = setup(2).await;
    produce(&broker, &topic, 2, 0..40).await;
    let gate = Gate::default();
    gate.open(5);
    let g = gate.clone();
    let p = builder(
        &broker,
        &topic,
        factory(move || GateStep(g.clone(), CommitOffsets::new(), lend)),
    )
    .await
    .pause_after(Duration::from_secs(2))
    .commit_policy(CommitPolicy::immediately())
    .build();
    let running = spawn(p);
    eventually("5 are taken", || async {
        gate.taken.load(Ordering::SeqCst) == 5
    })
    .await;
    let held_since = tokio::time::Instant::now();
    // Held for the threshold: the processor pauses; nothing more is taken.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(gate.taken.load(Ordering::SeqCst), 5);
    gate.open(100);
    eventually("all 40 are taken", || async {
        gate.taken.load(Ordering::SeqCst) == 40
    })
    .await;
    let done = all_committed(40, 2);
    eventually("all are committed", || async {
        done(&committed(&broker, &topic, 2).await)
    })
    .await;
    let report = running.stop().await.unwrap();
    assert_eq!(
        report.pauses,
        1,
        "paused once, after {:?}",
        held_since.elapsed()
    );
    assert_eq!(report.messages, 40);
}

#[tokio::test(start_paused = true)]
async fn a_short_backpressure_does_not_pause() {
    let (broker, topic) = setup(1).await;
    produce(&broker, &topic, 1, 0..10).await;
    let gate = Gate::default();
    gate.open(3);
    let g = gate.clone();
    let p = builder(
        &broker,
        &topic,
        factory(move || GateStep(g.clone(), CommitOffsets::new(), false)),
    )
    .await
    .pause_after(Duration::from_secs(2))
    .build();
    let running = spawn(p);
    eventually("3 are taken", || async {
        gate.taken.load(Ordering::SeqCst) == 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    gate.open(100);
    eventually("all 10 are taken", || async {
        gate.taken.load(Ordering::SeqCst) == 10
    })
    .await;
    assert_eq!(running.stop().await.unwrap().pauses, 0);
}

/// The payload's number, invalid if it ends in 3.
fn ends_in_3(p: &Payload) -> Result<u64, TaskError> {
    let v: u64 = std::str::from_utf8(&p.value).unwrap().parse().unwrap();
    if v % 10 == 3 {
        Err(TaskError::invalid(format!("{v} ends in 3")))
    } else {
        Ok(v)
    }
}

fn odd_is_invalid()
-> impl Fn(&weir_strategies::StrategyContext) -> Box<dyn ProcessingStrategy<Payload>> + Send + Sync
{
    factory(|| RunTask::new(|p: Payload| ends_in_3(&p), CommitOffsets::new()))
}

#[tokio::test(start_paused = true)]
async fn invalid_messages_go_to_the_dead_letter_topic_with_their_origin() {
    dead_letters_with_their_origin(odd_is_invalid()).await;
}

#[tokio::test(start_paused = true)]
async fn invalid_lent_messages_go_to_the_dead_letter_topic_with_their_origin() {
    let borrowing = factory(|| RunTask::borrowing(ends_in_3, CommitOffsets::new()));
    dead_letters_with_their_origin(borrowing).await;
}

async fn dead_letters_with_their_origin(
    pipeline: impl Fn(&weir_strategies::StrategyContext) -> Box<dyn ProcessingStrategy<Payload>>
    + Send
    + Sync
    + 'static,
) {
    let (broker, topic) = setup(1).await;
    let dlq_topic = Topic::new("input-dlq");
    broker.create_topic(&dlq_topic, 1).unwrap();
    let producer = broker.producer().await.unwrap();
    use weir_core::Producer;
    for i in 0..20u64 {
        let payload = Payload::new(i.to_string())
            .with_key("k")
            .with_header("trace", "t1");
        producer
            .produce(topic.partition(0).into(), payload)
            .await
            .unwrap();
    }
    let dlq = DeadLetterQueue::new(broker.producer().await.unwrap(), dlq_topic.clone());
    let p = builder(&broker, &topic, pipeline)
        .await
        .invalid_messages(InvalidPolicy::dead_letter(dlq))
        .build();
    let running = spawn(p);
    eventually("all are committed", || async {
        committed(&broker, &topic, 1).await[&0] == Some(20)
    })
    .await;
    let report = running.stop().await.unwrap();
    assert_eq!((report.invalid, report.dead_lettered), (2, 2));

    let mut reader = weir_testkit::subscribed(&broker, "dlq-reader", &[dlq_topic]).await;
    let seen = weir_testkit::collect(&mut reader, false, |s| s.messages.len() >= 2).await;
    let first = &seen.messages[0].payload;
    assert_eq!(&first.value[..], b"3");
    assert_eq!(first.key.as_deref(), Some(&b"k"[..]));
    let h = |n: &str| {
        first
            .headers
            .get(n)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    assert_eq!(h("trace").as_deref(), Some("t1"));
    assert_eq!(h(HEADER_TOPIC).as_deref(), Some("input"));
    assert_eq!(h(HEADER_PARTITION).as_deref(), Some("0"));
    assert_eq!(h(HEADER_OFFSET).as_deref(), Some("3"));
    assert_eq!(h(HEADER_REASON).as_deref(), Some("3 ends in 3"));
    assert_eq!(&seen.messages[1].payload.value[..], b"13");
}

#[tokio::test(start_paused = true)]
async fn an_invalid_batch_dead_letters_each_original_message() {
    let (broker, topic) = setup(2).await;
    let dlq_topic = Topic::new("input-dlq");
    broker.create_topic(&dlq_topic, 1).unwrap();
    let producer = broker.producer().await.unwrap();
    use weir_core::Producer;
    for i in 0..40u64 {
        let payload = Payload::new(i.to_string())
            .with_key(format!("k{i}"))
            .with_header("n", i.to_string());
        producer
            .produce(topic.partition((i % 2) as u32).into(), payload)
            .await
            .unwrap();
    }
    let refused: Arc<Mutex<Vec<String>>> = Arc::default();
    let r = refused.clone();
    let pipeline = factory(move || {
        let r = r.clone();
        // "11" is dropped before the batching: the batch with 13 spans its
        // offset but was not made from it, so it must not be dead-lettered.
        Filter::new(
            |p: &Payload| &p.value[..] != b"11",
            Batch::new(
                4,
                Duration::from_secs(1),
                RunTask::new(
                    move |rows: Vec<Payload>| {
                        let values: Vec<String> = rows
                            .iter()
                            .map(|p| String::from_utf8_lossy(&p.value).into_owned())
                            .collect();
                        if values.iter().any(|v| v == "13") {
                            r.lock().unwrap().extend(values);
                            Err(TaskError::invalid("a batch with 13"))
                        } else {
                            Ok(rows.len())
                        }
                    },
                    CommitOffsets::new(),
                ),
            ),
        )
    });
    let dlq = DeadLetterQueue::new(broker.producer().await.unwrap(), dlq_topic.clone());
    let p = builder(&broker, &topic, pipeline)
        .await
        .invalid_messages(InvalidPolicy::dead_letter(dlq))
        .build();
    let running = spawn(p);
    let done = all_committed(40, 2);
    eventually("all 40 are committed", || async {
        done(&committed(&broker, &topic, 2).await)
    })
    .await;
    let report = running.stop().await.unwrap();
    let mut refused = refused.lock().unwrap().clone();
    assert_eq!(refused.len(), 4, "one batch of 4 was refused");
    let odd: Vec<u64> = refused
        .iter()
        .filter_map(|v| v.parse().ok())
        .filter(|i| i % 2 == 1)
        .collect();
    assert!(
        odd.iter().any(|&i| i < 11) && odd.iter().any(|&i| i > 11),
        "the refused batch spans the filtered 11 in its partition: {refused:?}"
    );
    assert_eq!((report.invalid, report.dead_lettered), (1, 4));

    let mut reader = weir_testkit::subscribed(&broker, "dlq-reader", &[dlq_topic]).await;
    let seen = weir_testkit::collect(&mut reader, false, |s| s.messages.len() >= 4).await;
    let mut sent = Vec::new();
    for m in &seen.messages {
        let p = &m.payload;
        let h = |n: &str| {
            p.headers
                .get(n)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let value = String::from_utf8_lossy(&p.value).into_owned();
        let i: u64 = value.parse().unwrap();
        assert_eq!(p.key.as_deref(), Some(format!("k{i}").as_bytes()));
        assert_eq!(h("n"), Some(value.clone()), "the original headers are kept");
        assert_eq!(h(HEADER_TOPIC).as_deref(), Some("input"));
        assert_eq!(h(HEADER_PARTITION), Some((i % 2).to_string()));
        assert_eq!(h(HEADER_OFFSET), Some((i / 2).to_string()));
        assert_eq!(h(HEADER_REASON).as_deref(), Some("a batch with 13"));
        sent.push(value);
    }
    sent.sort();
    refused.sort();
    assert_eq!(sent, refused, "exactly the batch's messages, each once");
}

#[tokio::test(start_paused = true)]
async fn without_a_dead_letter_queue_an_invalid_message_is_an_error() {
    let (broker, topic) = setup(1).await;
    produce(&broker, &topic, 1, 0..10).await;
    let p = builder(&broker, &topic, odd_is_invalid())
        .await
        .commit_policy(CommitPolicy::immediately())
        .build();
    let err = p.run().await.unwrap_err();
    let ProcessorError::Invalid(i) = &err else {
        panic!("{err}")
    };
    assert_eq!(i.offset, Some(3));
    assert!(err.to_string().contains("input/0 offset 3"), "{err}");
    assert_eq!(
        committed(&broker, &topic, 1).await[&0],
        Some(3),
        "everything before it, nothing past it"
    );
}

#[tokio::test(start_paused = true)]
async fn skip_policy_counts_and_goes_on() {
    let (broker, topic) = setup(1).await;
    produce(&broker, &topic, 1, 0..30).await;
    let p = builder(&broker, &topic, odd_is_invalid())
        .await
        .invalid_messages(InvalidPolicy::skip())
        .build();
    let running = spawn(p);
    eventually("all are committed", || async {
        committed(&broker, &topic, 1).await[&0] == Some(30)
    })
    .await;
    assert_eq!(running.stop().await.unwrap().invalid, 3);
}

/// A last step that rejects each message the first time it is offered; the
/// second time it refuses the one at `refused` as invalid and takes the
/// others, recording their offsets.
struct Picky {
    refused: u64,
    offered: Option<u64>,
    taken: Arc<Mutex<Vec<u64>>>,
    commit: CommitOffsets,
}

impl ProcessingStrategy<Payload> for Picky {
    fn attach(&mut self, _: &Progress) {}
    fn submit(&mut self, m: Incoming<Payload>) -> Result<(), SubmitError<Payload>> {
        let offset = m.committable().next().map(|(_, next)| next - 1);
        if std::mem::replace(&mut self.offered, offset) != offset {
            return Err(SubmitError::Rejected(m));
        }
        if offset == Some(self.refused) {
            let reason = "refused by the last step";
            return Err(SubmitError::Failed(StrategyError::Invalid(
                weir_strategies::InvalidMessage::of(&m, reason),
            )));
        }
        self.taken.lock().unwrap().extend(offset);
        self.commit.submit(m)
    }
    fn poll(&mut self) -> Result<Option<CommitRequest>, StrategyError> {
        ProcessingStrategy::<Payload>::poll(&mut self.commit)
    }
    fn close(&mut self) {}
    fn terminate(&mut self) {}
    fn join(&mut self, t: Option<Duration>) -> JoinFuture<'_> {
        ProcessingStrategy::<Payload>::join(&mut self.commit, t)
    }
}

#[tokio::test(start_paused = true)]
async fn a_message_offered_while_an_earlier_one_fails_is_not_lost() {
    use weir_strategies::RunTaskAsync;
    let (broker, topic) = setup(1).await;
    produce(&broker, &topic, 1, 0..8).await;
    let taken = Arc::new(Mutex::new(Vec::new()));
    let t = taken.clone();
    // One task at a time: the step is full whenever a message is offered,
    // so it forwards the earlier result first, and meets the refusal of
    // offset 3 while offset 4 is being offered.
    let p = builder(
        &broker,
        &topic,
        factory(move || {
            RunTaskAsync::new(
                |p: Payload| async move { Ok::<_, TaskError>(p) },
                1,
                Picky {
                    refused: 3,
                    offered: None,
                    taken: t.clone(),
                    commit: CommitOffsets::new(),
                },
            )
        }),
    )
    .await
    .invalid_messages(InvalidPolicy::skip())
    .build();
    let running = spawn(p);
    eventually("all are committed", || async {
        committed(&broker, &topic, 1).await[&0] == Some(8)
    })
    .await;
    let report = running.stop().await.unwrap();
    assert_eq!(report.invalid, 1);
    assert_eq!(
        *taken.lock().unwrap(),
        [0, 1, 2, 4, 5, 6, 7],
        "offset 4 was not dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn invalid_limits_stop_the_processor_with_a_clear_error() {
    let (broker, topic) = setup(1).await;
    let producer = broker.producer().await.unwrap();
    use weir_core::Producer;
    for v in ["1", "3", "13", "23", "2"] {
        producer
            .produce(topic.partition(0).into(), Payload::new(v))
            .await
            .unwrap();
    }
    let p = builder(&broker, &topic, odd_is_invalid())
        .await
        .invalid_messages(InvalidPolicy::skip().max_consecutive(2))
        .build();
    let err = p.run().await.unwrap_err();
    let ProcessorError::TooManyInvalid { limit, last } = &err else {
        panic!("{err}")
    };
    assert_eq!(limit, &InvalidLimit::Consecutive { max: 2 });
    assert_eq!(last.offset, Some(3));
    assert!(
        err.to_string()
            .contains("more than 2 invalid messages in a row"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_panic_names_the_message_and_commits_nothing_past_it() {
    let (broker, topic) = setup(1).await;
    produce(&broker, &topic, 1, 0..50).await;
    let p = builder(
        &broker,
        &topic,
        factory(|| {
            RunTask::new(
                |p: Payload| {
                    if &p.value[..] == b"17" {
                        panic!("cannot handle 17");
                    }
                    Ok(p)
                },
                CommitOffsets::new(),
            )
        }),
    )
    .await
    .commit_policy(CommitPolicy::immediately())
    .build();
    let err = p.run().await.unwrap_err();
    assert!(
        matches!(
            err,
            ProcessorError::Strategy(StrategyError::Panicked {
                offset: Some(17),
                ..
            })
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("input/0 offset 17: cannot handle 17"),
        "{err}"
    );
    assert_eq!(committed(&broker, &topic, 1).await[&0], Some(17));
}

#[tokio::test(start_paused = true)]
async fn a_second_member_takes_partitions_and_nothing_is_lost() {
    let (broker, topic) = setup(4).await;
    produce(&broker, &topic, 4, 0..200).await;
    let seen = Seen::default();
    let make = |seen: Seen| {
        factory(move || {
            let s = seen.clone();
            RunTask::new(move |p: Payload| Ok(s.record(&p)), CommitOffsets::new())
        })
    };
    let first = spawn(builder(&broker, &topic, make(seen.clone())).await.build());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = spawn(builder(&broker, &topic, make(seen.clone())).await.build());
    produce(&broker, &topic, 4, 200..400).await;
    let done = all_committed(400, 4);
    eventually("all 400 are committed", || async {
        done(&committed(&broker, &topic, 4).await)
    })
    .await;
    let a = first.stop().await.unwrap();
    let b = second.stop().await.unwrap();
    assert!(
        a.pipelines >= 2,
        "the first member rebuilt its pipeline on the rebalance"
    );
    assert!(b.messages > 0, "the second member got partitions");
    let mut v = seen.values();
    v.sort_unstable();
    v.dedup();
    assert_eq!(v, (0..400).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn shutdown_before_any_assignment_is_clean() {
    let (broker, topic) = setup(1).await;
    let consumer = broker.consumer(ConsumerConfig::new(GROUP)).await.unwrap();
    let p =
        weir_strategies::StreamProcessor::builder(consumer, [topic], factory(CommitOffsets::new))
            .build();
    let stop = p.shutdown_handle();
    stop.shutdown();
    assert_eq!(p.run().await.unwrap().messages, 0);
}

#[tokio::test(start_paused = true)]
async fn revocation_joins_within_the_timeout_and_rewinds_unfinished_work() {
    use std::sync::atomic::AtomicBool;
    use weir_strategies::RunTaskAsync;

    let (broker, topic) = setup(2).await;
    produce(&broker, &topic, 2, 0..20).await;
    let stuck_once = Arc::new(AtomicBool::new(true));
    let finished = Seen::default();
    let make = |finished: Seen, stuck_once: Arc<AtomicBool>| {
        factory(move || {
            let finished = finished.clone();
            let stuck_once = stuck_once.clone();
            RunTaskAsync::new(
                move |p: Payload| {
                    let finished = finished.clone();
                    // Value 4 is partition 0, offset 2: its first run hangs.
                    let hang = &p.value[..] == b"4" && stuck_once.swap(false, Ordering::SeqCst);
                    async move {
                        let d = if hang {
                            Duration::from_secs(3600)
                        } else {
                            Duration::from_millis(5)
                        };
                        tokio::time::sleep(d).await;
                        finished.record(&p);
                        Ok::<_, TaskError>(())
                    }
                },
                8,
                CommitOffsets::new(),
            )
        })
    };
    let a = spawn(
        builder(&broker, &topic, make(finished.clone(), stuck_once.clone()))
            .await
            .join_timeout(Some(Duration::from_secs(1)))
            .commit_policy(CommitPolicy::immediately())
            .build(),
    );
    eventually("the first run of value 4 started", || async {
        !stuck_once.load(Ordering::SeqCst)
    })
    .await;
    eventually(
        "partition 0 is committed up to the stuck message",
        || async { committed(&broker, &topic, 2).await[&0] == Some(2) },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        committed(&broker, &topic, 2).await[&0],
        Some(2),
        "nothing past the unfinished message"
    );

    // A second member joins: the first joins its pipeline, gives up on the
    // stuck task after the timeout, commits what finished and reads the
    // unfinished tail again.
    let b = spawn(
        builder(&broker, &topic, make(finished.clone(), stuck_once.clone()))
            .await
            .build(),
    );
    let done = all_committed(20, 2);
    eventually("all are committed", || async {
        done(&committed(&broker, &topic, 2).await)
    })
    .await;
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    let mut v = finished.values();
    v.sort_unstable();
    v.dedup();
    assert_eq!(v, (0..20).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn a_strategy_that_never_signals_is_still_retried() {
    // The gate opens without raising the progress signal: the processor's
    // retry interval still gets the held message through.
    let (broker, topic) = setup(1).await;
    produce(&broker, &topic, 1, 0..4).await;
    let gate = Gate::default();
    gate.open(1);
    let g = gate.clone();
    let p = builder(
        &broker,
        &topic,
        factory(move || GateStep(g.clone(), CommitOffsets::new(), false)),
    )
    .await
    .retry_interval(Duration::from_millis(250))
    .build();
    let running = spawn(p);
    eventually("1 is taken", || async {
        gate.taken.load(Ordering::SeqCst) == 1
    })
    .await;
    gate.capacity.fetch_add(10, Ordering::SeqCst);
    let opened = tokio::time::Instant::now();
    eventually("all are taken", || async {
        gate.taken.load(Ordering::SeqCst) == 4
    })
    .await;
    assert!(
        opened.elapsed() <= Duration::from_millis(260),
        "{:?}",
        opened.elapsed()
    );
    running.stop().await.unwrap();
}
