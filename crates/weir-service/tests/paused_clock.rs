//! Time-based behaviour on the memory broker under tokio's paused clock:
//! the retry backoff of a failing handler and the restart backoff of a
//! failing service, measured exactly.

#![allow(clippy::unwrap_used)]

mod scenarios;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use weir_core::{Broker, Destination, Payload, Producer, Topic};
use weir_memory::MemoryBroker;
use weir_service::{
    ConsumerSpec, Context, Encoding, HandlerError, Health, Received, RetryPolicy, Service,
    Supervisor,
};
use weir_strategies::ShutdownHandle;

fn gaps(times: &[Instant]) -> Vec<Duration> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test(start_paused = true)]
async fn a_failing_handler_is_retried_after_growing_waits() {
    let broker = MemoryBroker::new();
    let topic = Topic::new("flaky");
    let attempts: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let a = Arc::clone(&attempts);
    let service = Service::builder("flaky")
        .consumer(
            ConsumerSpec::new(
                "flaky",
                topic.clone(),
                move |_: Received<u8>, _ctx: Context| {
                    let a = Arc::clone(&a);
                    async move {
                        let mut a = a.lock().unwrap();
                        a.push(Instant::now());
                        if a.len() < 4 {
                            return Err(HandlerError::failed("not yet"));
                        }
                        Ok(())
                    }
                },
            )
            .retry(
                RetryPolicy::builder()
                    .max_attempts(5)
                    .initial_backoff(Duration::from_millis(100))
                    .build()
                    .unwrap(),
            ),
        )
        .build()
        .unwrap();
    let stop = ShutdownHandle::default();
    let (b, s) = (broker.clone(), stop.clone());
    let running = tokio::spawn(async move { service.run(&b, &s, &Health::new()).await });
    let producer = broker.producer().await.unwrap();
    loop {
        let sent = producer
            .produce(
                Destination::Topic(topic.clone()),
                Payload::new(Encoding::MsgPack.encode(&1u8).unwrap()),
            )
            .await;
        if sent.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    while attempts.lock().unwrap().len() < 4 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ms = Duration::from_millis;
    assert_eq!(gaps(&attempts.lock().unwrap()), [ms(100), ms(200), ms(400)]);
    stop.shutdown();
    running.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_failing_service_restarts_after_doubling_waits() {
    scenarios::logs();
    let broker = MemoryBroker::new();
    let starts: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let s = Arc::clone(&starts);
    let service = Service::builder("unlucky")
        .on_start(move |_ctx: Context| {
            let s = Arc::clone(&s);
            async move {
                let mut s = s.lock().unwrap();
                s.push(Instant::now());
                if s.len() < 5 {
                    return Err(format!("start {} fails", s.len()).into());
                }
                Ok(())
            }
        })
        .build()
        .unwrap();
    let stop = ShutdownHandle::default();
    let health = Health::new();
    let supervisor =
        Supervisor::new(service).backoff(Duration::from_millis(100), Duration::from_millis(500));
    let (b, st, h) = (broker.clone(), stop.clone(), health.clone());
    let running = tokio::spawn(async move { supervisor.run(&b, &st, &h).await });
    while starts.lock().unwrap().len() < 5 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ms = Duration::from_millis;
    assert_eq!(
        gaps(&starts.lock().unwrap()),
        [ms(100), ms(200), ms(400), ms(500)]
    );
    stop.shutdown();
    running.await.unwrap().unwrap();
}
