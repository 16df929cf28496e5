//! What `stats()` reports agrees with what the publishers saw.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weir_collector::{BoxError, Collector, CollectorQueue, Context, RunningQueue};

/// Where a probe says it is being dropped, and waits for leave to go on.
type Hold = Arc<Mutex<(mpsc::Sender<()>, mpsc::Receiver<()>)>>;

/// A payload whose original (not its clones) tells the test when the queue
/// drops it, and then waits for the test's word: it holds the consumer right
/// after the event's results went out.
struct Probe {
    armed: Option<Hold>,
}

impl Clone for Probe {
    fn clone(&self) -> Self {
        Probe { armed: None }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if let Some(channels) = self.armed.take()
            && let Ok(channels) = channels.lock()
        {
            let _ = channels.0.send(());
            let _ = channels.1.recv_timeout(Duration::from_secs(2));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_consumer_is_busy_once_every_result_arrived() {
    let queue = CollectorQueue::builder()
        .collector(
            Collector::builder("probe")
                .processor(|_: Probe, _: Context<()>| async { Ok::<_, BoxError>(()) }),
        )
        .consumers(1, 1)
        .build()
        .expect("valid queue");
    let running = queue.start().await.expect("starts");
    let (dropping, dropped) = mpsc::channel();
    let (go_on, wait) = mpsc::channel();
    let probe = Probe {
        armed: Some(Arc::new(Mutex::new((dropping, wait)))),
    };
    let handle = running.publisher().send(probe).await.expect("sent");
    assert!(handle.await.all_ok());
    // The consumer is past the event (it is dropping its payload) and has
    // nothing else to do.
    dropped
        .recv_timeout(Duration::from_secs(2))
        .expect("the queue drops the payload");
    let stats = running.stats();
    let _ = go_on.send(());
    assert_eq!(stats.busy, 0, "every result arrived: {stats:?}");
    assert_eq!(stats.completed, 1, "{stats:?}");
    running.shutdown().await;
}

fn counting_queue() -> CollectorQueue<u32, u32> {
    CollectorQueue::builder()
        .collector(
            Collector::builder("echo")
                .processor(|n: u32, _: Context<()>| async move { Ok::<_, BoxError>(n) }),
        )
        .consumers(1, 1)
        .build()
        .expect("valid queue")
}

async fn send_detached(running: &RunningQueue<u32, u32>, events: u32) {
    let publisher = running.publisher();
    for n in 0..events {
        publisher.send_detached(n).await.expect("sent");
    }
}

/// Consumers count completions per batch; a result still never arrives
/// before the events completed ahead of it are counted.
#[tokio::test(start_paused = true)]
async fn events_completed_before_a_result_are_counted_when_it_arrives() {
    let running = counting_queue().start().await.expect("starts");
    send_detached(&running, 100).await;
    // One consumer, FIFO: the 100 detached events complete before this one.
    let results = running.publisher().send(100).await.expect("sent").await;
    assert!(results.all_ok());
    let stats = running.stats();
    assert_eq!(stats.completed, 101, "{stats:?}");
    assert_eq!(stats.accepted, 101, "{stats:?}");
    running.shutdown().await;
}

/// Detached events, whose results nobody reads, are counted once the
/// consumer has worked through them, without waiting for shutdown.
#[tokio::test(start_paused = true)]
async fn detached_events_are_counted_once_the_consumer_is_idle() {
    let running = counting_queue().start().await.expect("starts");
    send_detached(&running, 100).await;
    let counted = tokio::time::timeout(Duration::from_secs(5), async {
        while running.stats().completed < 100 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    let stats = running.stats();
    assert!(counted.is_ok(), "completions stayed uncounted: {stats:?}");
    assert_eq!((stats.completed, stats.busy, stats.depth), (100, 0, 0));
    running.shutdown().await;
}
