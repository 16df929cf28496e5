use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use weir_core::{Payload, Produced};

use super::*;
use crate::SubmitError;
use crate::testing::{Collect, broker_msg, part};

fn payload(s: &str) -> Payload {
    Payload::new(s.to_owned())
}

#[tokio::test]
async fn steps_run_in_the_order_written_and_commit_everything() {
    let sink = Collect::new();
    let mut pipeline = Pipeline::new()
        .filter(|p: &Payload| !p.value.is_empty())
        .map(|p: Payload| Ok(p.value.len()))
        .reduce(|| 0usize, |total, n| total + n)
        .max_messages(2)
        .max_time(Duration::from_secs(60))
        .end_with(sink.clone());
    pipeline.attach(&crate::Progress::new());
    for (offset, text) in ["ab", "", "cde", "f"].into_iter().enumerate() {
        pipeline
            .submit(broker_msg(0, offset as u64, payload(text)))
            .unwrap();
    }
    pipeline.close();
    let commits = pipeline.join(None).await.unwrap().unwrap();
    // "" is filtered; "ab" + "cde" fill the first batch, "f" goes out at join.
    assert_eq!(sink.payloads(), vec![Some(5), Some(1)]);
    assert_eq!(commits.get(&part(0)), Some(4));
}

#[tokio::test]
async fn commit_ends_the_pipeline_with_offsets_committed() {
    let mut pipeline = Pipeline::new().map(|p: Payload| Ok(p.value.len())).commit();
    pipeline.attach(&crate::Progress::new());
    pipeline.submit(broker_msg(1, 9, payload("x"))).unwrap();
    pipeline.close();
    let commits = pipeline.join(None).await.unwrap().unwrap();
    assert_eq!(commits.get(&part(1)), Some(10));
}

#[tokio::test]
async fn batch_and_unbatch_keep_every_message_and_its_order() {
    let sink = Collect::new();
    let mut pipeline = Pipeline::of::<u32>()
        .batch(3)
        .max_time(Duration::from_secs(60))
        .map(|mut v: Vec<u32>| {
            v.reverse();
            Ok(v)
        })
        .unbatch()
        .end_with(sink.clone());
    pipeline.attach(&crate::Progress::new());
    for i in 0..4u32 {
        pipeline.submit(broker_msg(0, u64::from(i), i)).unwrap();
    }
    pipeline.close();
    pipeline.join(None).await.unwrap();
    assert_eq!(
        sink.payloads(),
        vec![Some(2), Some(1), Some(0), Some(3)],
        "each batch reversed, in batch order"
    );
}

#[tokio::test]
async fn map_async_concurrency_is_the_number_of_tasks_in_flight() {
    let sink = Collect::new();
    let (release, gate) = tokio::sync::watch::channel(false);
    let mut pipeline = Pipeline::of::<u32>()
        .map_async(move |x: u32| {
            let mut gate = gate.clone();
            async move {
                let _ = gate.wait_for(|open| *open).await;
                Ok(x)
            }
        })
        .concurrency(2)
        .end_with(sink.clone());
    pipeline.attach(&crate::Progress::new());
    pipeline.submit(broker_msg(0, 0, 1)).unwrap();
    pipeline.submit(broker_msg(0, 1, 2)).unwrap();
    assert!(
        matches!(
            pipeline.submit(broker_msg(0, 2, 3)),
            Err(SubmitError::Rejected(_))
        ),
        "a third task waits for one of two to finish"
    );
    release.send_replace(true);
    pipeline.close();
    pipeline.join(None).await.unwrap();
    assert_eq!(sink.payloads(), vec![Some(1), Some(2)]);
}

#[tokio::test]
async fn keyed_and_blocking_steps_take_their_settings() {
    let sink = Collect::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    // The blocking function waits until the test lets it finish, so the
    // first message is surely still unfinished when the second comes.
    let gate = Arc::new(std::sync::RwLock::new(()));
    let closed = gate.write().unwrap();
    let waits = Arc::clone(&gate);
    let mut pipeline = Pipeline::of::<u32>()
        .map_blocking(move |x: u32| {
            let _open = waits.read();
            counted.fetch_add(1, Ordering::SeqCst);
            Ok(x * 10)
        })
        .threads(2)
        .max_pending(1)
        .keyed(|x: &u32| x % 2, |x: u32| async move { Ok(x + 1) })
        .concurrency(4)
        .max_pending(8)
        .end_with(sink.clone());
    pipeline.attach(&crate::Progress::new());
    pipeline.submit(broker_msg(0, 0, 1)).unwrap();
    assert!(
        matches!(
            pipeline.submit(broker_msg(0, 1, 2)),
            Err(SubmitError::Rejected(_))
        ),
        "max_pending(1) on the blocking step holds one message"
    );
    drop(closed);
    pipeline.close();
    pipeline.join(None).await.unwrap();
    assert_eq!(sink.payloads(), vec![Some(11)]);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn unfold_decode_and_produce_fit_together() {
    use weir_core::{Broker, MsgPack, Topic};
    let broker = weir_memory::MemoryBroker::new();
    let out = Topic::new("words");
    broker.create_topic(&out, 1).unwrap();
    let producer = broker.producer().await.unwrap();
    let sink = Collect::<Produced>::new();
    let mut pipeline = Pipeline::new()
        .decode::<String, _>(MsgPack)
        .unfold(|line: String| {
            line.split(' ')
                .map(|w| Payload::new(w.to_owned()))
                .collect::<Vec<_>>()
        })
        .produce(producer, out.clone())
        .max_in_flight(2)
        .end_with(sink.clone());
    pipeline.attach(&crate::Progress::new());
    let line = MsgPack.encode(&"to be or".to_owned()).unwrap();
    pipeline
        .submit(broker_msg(0, 0, Payload::new(line)))
        .unwrap();
    pipeline.close();
    let commits = pipeline.join(None).await.unwrap().unwrap();
    assert_eq!(sink.payloads().len(), 3, "one produce per word");
    assert_eq!(commits.get(&part(0)), Some(1));
}
