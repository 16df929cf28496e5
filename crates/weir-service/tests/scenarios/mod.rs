//! The service scenarios every backend runs, one function each; the test
//! files for memory, Redis and Kafka turn them into tests with
//! [`service_scenarios!`].

#![allow(dead_code, clippy::unwrap_used)]

pub mod http;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weir_core::{Broker, Consumer, ConsumerEvent, Destination, Payload, Producer, Topic};
use weir_service::request::wire::{HEADER_CORRELATION_ID, HEADER_END_OF_STREAM};
use weir_service::{
    ConfigPublisher, ConfigPush, ConsumerSpec, Context, HandlerError, Health, HttpEndpoint,
    Received, RequestClient, RetryPolicy, Service, ServiceError, ServiceGroup, Supervisor,
};
use weir_strategies::ShutdownHandle;
use weir_testkit::{unique_name, wait_until};

/// How long a scenario waits for anything before failing.
const WAIT: Duration = Duration::from_secs(30);

/// Logs to the test's output, filtered by `RUST_LOG` (none without it).
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A service running in the background until [`Running::stop`].
pub struct Running {
    stop: ShutdownHandle,
    task: tokio::task::JoinHandle<Result<(), ServiceError>>,
    pub health: Health,
}

impl Running {
    pub fn supervised<B: Broker>(broker: &B, service: Service) -> Self {
        logs();
        let stop = ShutdownHandle::default();
        let health = Health::new();
        let (b, s, h) = (broker.clone(), stop.clone(), health.clone());
        let supervisor =
            Supervisor::new(service).backoff(Duration::from_millis(50), Duration::from_millis(200));
        let task = tokio::spawn(async move { supervisor.run(&b, &s, &h).await });
        Running { stop, task, health }
    }

    pub async fn until_healthy(&self) {
        let h = self.health.clone();
        wait_until("the service is healthy", move || h.check().is_ok()).await;
    }

    pub async fn stop(self) -> Result<(), ServiceError> {
        self.stop.shutdown();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the service stops in time")
            .expect("the service task ends without panic")
    }
}

/// Produces the numbers `numbers` to `topic`, each encoded as the services
/// decode it and keyed by itself (so they spread over the partitions).
async fn send_numbers<P: Producer>(producer: &P, topic: &Topic, numbers: std::ops::Range<u32>) {
    for n in numbers {
        let bytes = weir_service::Encoding::MsgPack.encode(&n).unwrap();
        producer
            .produce(
                Destination::Topic(topic.clone()),
                Payload::new(bytes).with_key(n.to_string()),
            )
            .await
            .unwrap();
    }
}

fn words_service(id: &str, requests: &Topic) -> Service {
    Service::builder(id)
        .concurrency(16)
        .consumer(
            ConsumerSpec::responder(
                "count",
                requests.clone(),
                |text: Received<String>, _ctx: Context| async move {
                    if text.value == "slow" {
                        tokio::time::sleep(Duration::from_millis(2500)).await;
                    }
                    Ok::<u64, HandlerError>(text.value.split_whitespace().count() as u64)
                },
            )
            .partitions(4),
        )
        .build()
        .unwrap()
}

/// 256 requests in flight at once over one client, each answered right.
pub async fn round_trip_with_many_in_flight<B: Broker>(broker: &B) {
    let requests = Topic::new(unique_name("count-requests"));
    let service = Running::supervised(broker, words_service(&unique_name("words"), &requests));
    service.until_healthy().await;
    let client = RequestClient::<String, u64>::builder("words-client", requests.clone())
        .timeout(WAIT)
        .connect(broker)
        .await
        .unwrap();
    let asks = (0..256usize).map(|i| {
        let client = client.clone();
        async move {
            let text = vec!["w"; i % 13].join(" ");
            (i % 13, client.request(&text).await)
        }
    });
    let answers = futures::future::join_all(asks).await;
    for (want, got) in answers {
        assert_eq!(got.unwrap(), want as u64);
    }
    assert_eq!(client.in_flight(), 0);
    client.close().await;
    service.stop().await.unwrap();
}

/// A request nobody answers in time fails with a timeout; its late answer
/// and an answer for an id never sent are both counted and dropped.
pub async fn timeout_then_late_and_unknown_responses_are_dropped<B: Broker>(broker: &B) {
    let metrics = weir_service::prometheus().expect("the recorder installs");
    let requests = Topic::new(unique_name("count-requests"));
    let service = Running::supervised(broker, words_service(&unique_name("words"), &requests));
    service.until_healthy().await;
    let client_name = unique_name("late-client");
    let client = RequestClient::<String, u64>::builder(client_name.clone(), requests.clone())
        .timeout(Duration::from_secs(1))
        .connect(broker)
        .await
        .unwrap();
    let e = client.request(&"slow".to_owned()).await.unwrap_err();
    assert!(matches!(e, ServiceError::Timeout { .. }), "{e}");
    assert_eq!(client.in_flight(), 0, "a timed-out request is forgotten");
    let producer = broker.producer().await.unwrap();
    producer
        .produce(
            Destination::Topic(Topic::new(format!("{requests}.responses"))),
            Payload::new("x")
                .with_header(HEADER_CORRELATION_ID, "no-such-id")
                .with_header(HEADER_END_OF_STREAM, "1"),
        )
        .await
        .unwrap();
    let series = format!("weir_service_client_responses_dropped_total{{client=\"{client_name}\"}}");
    let deadline = tokio::time::Instant::now() + WAIT;
    while http::metric(&metrics.render(), &series) != Some(2.0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}",
            metrics.render()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(client.request(&"still works".to_owned()).await.unwrap(), 2);
    client.close().await;
    service.stop().await.unwrap();
}

/// A streaming responder's answers arrive in order and end at the marker.
pub async fn streaming_responses_end_at_the_marker<B: Broker>(broker: &B) {
    let requests = Topic::new(unique_name("spell-requests"));
    let service = Service::builder(unique_name("spell"))
        .consumer(ConsumerSpec::streaming_responder(
            "spell",
            requests.clone(),
            |word: Received<String>, reply, _ctx| async move {
                for c in word.value.chars() {
                    reply.send(&c.to_string()).await?;
                }
                Ok(())
            },
        ))
        .build()
        .unwrap();
    let service = Running::supervised(broker, service);
    service.until_healthy().await;
    let client = RequestClient::<String, String>::builder("spell-client", requests)
        .timeout(WAIT)
        .connect(broker)
        .await
        .unwrap();
    let mut a = client.request_stream(&"weir".to_owned()).await.unwrap();
    let mut b = client.request_stream(&"rust".to_owned()).await.unwrap();
    let mut got_a = String::new();
    while let Some(c) = a.next().await {
        got_a.push_str(&c.unwrap());
    }
    let mut got_b = String::new();
    while let Some(c) = b.next().await {
        got_b.push_str(&c.unwrap());
    }
    assert_eq!((got_a.as_str(), got_b.as_str()), ("weir", "rust"));
    client.close().await;
    service.stop().await.unwrap();
}

/// Pushed before the service starts (out of order), the newest version is
/// in force when it starts; later pushes apply in order, stale ones are ignored.
pub async fn config_pushes_apply_in_order_and_reach_a_late_subscriber<B: Broker>(broker: &B) {
    let metrics = weir_service::prometheus().expect("the recorder installs");
    let config = Topic::new(unique_name("config"));
    weir_core::BrokerExt::create_topic(broker, &config, 1)
        .await
        .unwrap();
    let publisher = ConfigPublisher::new(broker.producer().await.unwrap(), config.clone());
    let push = |v: u64, limit: u32| ConfigPush::new(v).set("limit", &limit).unwrap();
    for (v, limit) in [(1, 10), (3, 30), (2, 20)] {
        publisher.publish(&push(v, limit)).await.unwrap();
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let at_start = Arc::new(Mutex::new(None));
    let id = unique_name("configured");
    let (s, a) = (Arc::clone(&seen), Arc::clone(&at_start));
    let service = Service::builder(id.clone())
        .config_topic(config.clone())
        .on_config("limit", move |limit: Option<u32>, version| {
            s.lock().unwrap().push((limit, version))
        })
        .on_start(move |ctx: Context| {
            let a = Arc::clone(&a);
            async move {
                *a.lock().unwrap() =
                    Some((ctx.config().version(), ctx.config().get::<u32>("limit")?));
                Ok(())
            }
        })
        .build()
        .unwrap();
    let service = Running::supervised(broker, service);
    service.until_healthy().await;
    assert_eq!(
        *at_start.lock().unwrap(),
        Some((Some(3), Some(30))),
        "the late subscriber has the current config"
    );
    for (v, limit) in [(5, 50), (4, 40)] {
        publisher.publish(&push(v, limit)).await.unwrap();
    }
    let gauge = format!("weir_service_config_version{{service=\"{id}\"}}");
    wait_until("version 5 is in force", || {
        http::metric(&metrics.render(), &gauge) == Some(5.0)
    })
    .await;
    let stale = format!("weir_service_config_ignored_total{{service=\"{id}\",reason=\"stale\"}}");
    wait_until("both stale pushes are counted", || {
        http::metric(&metrics.render(), &stale) == Some(2.0)
    })
    .await;
    assert_eq!(
        *seen.lock().unwrap(),
        [(Some(10), 1), (Some(30), 3), (Some(50), 5)],
        "versions 2 and 4 came too late and were ignored"
    );
    service.stop().await.unwrap();
}

/// A handler panics on one message: the service restarts and, in the end,
/// every message was handled (the panicking one again after the restart).
pub async fn restart_after_a_panic_loses_no_message<B: Broker>(broker: &B) {
    let topic = Topic::new(unique_name("jobs"));
    let handled = Arc::new(Mutex::new(BTreeSet::new()));
    let panicked = Arc::new(AtomicBool::new(false));
    let (h, p) = (Arc::clone(&handled), Arc::clone(&panicked));
    let service = Service::builder(unique_name("fragile"))
        .concurrency(4)
        .consumer(ConsumerSpec::new(
            "jobs",
            topic.clone(),
            move |n: Received<u32>, _ctx: Context| {
                let (h, p) = (Arc::clone(&h), Arc::clone(&p));
                async move {
                    if n.value == 17 && !p.swap(true, Ordering::SeqCst) {
                        panic!("job 17 breaks the first time");
                    }
                    h.lock().unwrap().insert(n.value);
                    Ok(())
                }
            },
        ))
        .build()
        .unwrap();
    let running = Running::supervised(broker, service);
    running.until_healthy().await;
    let producer = broker.producer().await.unwrap();
    send_numbers(&producer, &topic, 0..60).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while handled.lock().unwrap().len() < 60 {
        let missing: Vec<u32> = (0..60)
            .filter(|n| !handled.lock().unwrap().contains(n))
            .collect();
        assert!(
            tokio::time::Instant::now() < deadline,
            "never handled: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(panicked.load(Ordering::SeqCst), "the handler did panic");
    running.stop().await.unwrap();
}

/// Stopping while messages are in flight: they finish, their offsets are
/// committed, and nothing is read again by the next member of the group.
pub async fn graceful_shutdown_finishes_and_commits_in_flight_work<B: Broker>(broker: &B) {
    let topic = Topic::new(unique_name("slow-jobs"));
    let id = unique_name("patient");
    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let (s, f) = (Arc::clone(&started), Arc::clone(&finished));
    let service = Service::builder(id.clone())
        .concurrency(8)
        .consumer(
            ConsumerSpec::new(
                "slow",
                topic.clone(),
                move |_: Received<u32>, _ctx: Context| {
                    let (s, f) = (Arc::clone(&s), Arc::clone(&f));
                    async move {
                        s.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(400)).await;
                        f.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    }
                },
            )
            .partitions(1),
        )
        .build()
        .unwrap();
    let running = Running::supervised(broker, service);
    running.until_healthy().await;
    let producer = broker.producer().await.unwrap();
    send_numbers(&producer, &topic, 0..8).await;
    let s = Arc::clone(&started);
    wait_until("all 8 are in flight", move || s.load(Ordering::SeqCst) == 8).await;
    assert!(
        finished.load(Ordering::SeqCst) < 8,
        "still in flight when the stop comes"
    );
    running.stop().await.unwrap();
    assert_eq!(
        finished.load(Ordering::SeqCst),
        8,
        "in-flight work finished before the stop returned"
    );
    let mut next = weir_testkit::subscribed(broker, &id, std::slice::from_ref(&topic)).await;
    let partition = weir_core::Partition::new(topic.clone(), 0);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, next.poll())
            .await
            .expect("assigned in time")
            .unwrap()
        {
            ConsumerEvent::Assigned(_) => break,
            ConsumerEvent::Messages(m) => panic!("read again after a graceful stop: {m:?}"),
            ConsumerEvent::Revoked(_) => {}
        }
    }
    let committed = next
        .committed(std::slice::from_ref(&partition))
        .await
        .unwrap();
    assert_eq!(committed.get(&partition), Some(&Some(8)));
    next.close().await.unwrap();
}

/// `/metrics` and `/healthz` over HTTP while a group of two services runs,
/// and `/healthz` 503 once they stopped.
pub async fn metrics_and_health_are_served_over_http<B: Broker>(broker: &B) {
    weir_service::prometheus().expect("the recorder installs");
    let requests = Topic::new(unique_name("count-requests"));
    let words_id = unique_name("words");
    let other = Service::builder(unique_name("idle"))
        .consumer(ConsumerSpec::new(
            "idle",
            Topic::new(unique_name("idle")),
            |_: Received<u8>, _ctx: Context| async { Ok(()) },
        ))
        .build()
        .unwrap();
    let group = ServiceGroup::new()
        .service(words_service(&words_id, &requests))
        .service(other);
    let endpoint = HttpEndpoint::start("127.0.0.1:0".parse().unwrap(), group.health().clone())
        .await
        .unwrap();
    let stop = ShutdownHandle::default();
    let (b, s, g) = (broker.clone(), stop.clone(), group.clone());
    let task = tokio::spawn(async move { g.run(&b, &s).await });
    let addr = endpoint.addr();
    let mut healthy = false;
    for _ in 0..600 {
        if http::get(addr, "/healthz").await.0 == 200 {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(healthy, "/healthz turns 200 once both services run");
    let client = RequestClient::<String, u64>::builder("http-client", requests)
        .timeout(WAIT)
        .connect(broker)
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(client.request(&"two words".to_owned()).await.unwrap(), 2);
    }
    // The handler counts its message just after it answered.
    let ok = format!(
        "weir_service_processed_total{{service=\"{words_id}\",consumer=\"count\",status=\"ok\"}}"
    );
    let mut text = String::new();
    for _ in 0..100 {
        let (status, t) = http::get(addr, "/metrics").await;
        assert_eq!(status, 200);
        text = t;
        if http::metric(&text, &ok) == Some(3.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(http::metric(&text, &ok), Some(3.0), "{text}");
    let up = format!("weir_service_consumer_up{{service=\"{words_id}\",consumer=\"count\"}}");
    assert_eq!(http::metric(&text, &up), Some(1.0));
    let count = format!(
        "weir_service_request_duration_seconds_count{{service=\"{words_id}\",consumer=\"count\"}}"
    );
    assert_eq!(http::metric(&text, &count), Some(3.0));
    assert!(
        text.contains(&format!("weir_service_info{{service=\"{words_id}\"")),
        "{text}"
    );
    client.close().await;
    stop.shutdown();
    task.await.unwrap().unwrap();
    let (status, body) = http::get(addr, "/healthz").await;
    assert_eq!(status, 503);
    assert!(body.contains("stopped"), "{body}");
}

/// A handler that keeps failing is retried, then its message is
/// dead-lettered with the original bytes; one that was rate limited is
/// retried without a failure counted.
pub async fn failures_dead_letter_and_rate_limits_retry<B: Broker>(broker: &B) {
    let metrics = weir_service::prometheus().expect("the recorder installs");
    let topic = Topic::new(unique_name("orders"));
    let id = unique_name("picky");
    let attempts = Arc::new(AtomicUsize::new(0));
    let limited = Arc::new(AtomicBool::new(false));
    let done = Arc::new(Mutex::new(Vec::new()));
    let (a, l, d) = (
        Arc::clone(&attempts),
        Arc::clone(&limited),
        Arc::clone(&done),
    );
    let service = Service::builder(id.clone())
        .consumer(
            ConsumerSpec::new(
                "orders",
                topic.clone(),
                move |order: Received<String>, _ctx: Context| {
                    let (a, l, d) = (Arc::clone(&a), Arc::clone(&l), Arc::clone(&d));
                    async move {
                        match order.value.as_str() {
                            "broken" => {
                                a.fetch_add(1, Ordering::SeqCst);
                                Err(HandlerError::failed("the order is broken"))
                            }
                            "busy" if !l.swap(true, Ordering::SeqCst) => {
                                Err(HandlerError::rate_limited(Duration::from_millis(100)))
                            }
                            other => {
                                d.lock().unwrap().push(other.to_owned());
                                Ok(())
                            }
                        }
                    }
                },
            )
            .retry(
                RetryPolicy::builder()
                    .max_attempts(3)
                    .initial_backoff(Duration::from_millis(10))
                    .build()
                    .unwrap(),
            )
            .partitions(1),
        )
        .build()
        .unwrap();
    let running = Running::supervised(broker, service);
    running.until_healthy().await;
    let producer = broker.producer().await.unwrap();
    let corrupt = Payload::new(&b"\xc1 not msgpack"[..]);
    for p in [
        Payload::new(weir_service::Encoding::MsgPack.encode("broken").unwrap()),
        Payload::new(weir_service::Encoding::MsgPack.encode("busy").unwrap()),
        corrupt.clone(),
        Payload::new(weir_service::Encoding::MsgPack.encode("fine").unwrap()),
    ] {
        producer
            .produce(Destination::Topic(topic.clone()), p)
            .await
            .unwrap();
    }
    let d = Arc::clone(&done);
    wait_until("busy and fine are handled", move || {
        d.lock().unwrap().len() == 2
    })
    .await;
    assert_eq!(*done.lock().unwrap(), ["busy", "fine"]);
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        3,
        "broken was tried three times"
    );
    let dlq = Topic::new(format!("{topic}.dlq"));
    let mut reader = weir_testkit::subscribed(broker, &unique_name("dlq-reader"), &[dlq]).await;
    let seen = weir_testkit::collect(&mut reader, false, |s| s.messages.len() >= 2).await;
    let values: Vec<Vec<u8>> = seen
        .messages
        .iter()
        .map(|m| m.payload.value.to_vec())
        .collect();
    assert_eq!(
        values,
        [
            weir_service::Encoding::MsgPack
                .encode("broken")
                .unwrap()
                .to_vec(),
            corrupt.value.to_vec()
        ],
        "both dead letters keep their original bytes"
    );
    let text = metrics.render();
    let series = |status: &str| {
        format!(
            "weir_service_processed_total{{service=\"{id}\",consumer=\"orders\",status=\"{status}\"}}"
        )
    };
    assert_eq!(http::metric(&text, &series("error")), Some(3.0), "{text}");
    assert_eq!(http::metric(&text, &series("dead_lettered")), Some(2.0));
    assert_eq!(http::metric(&text, &series("ok")), Some(2.0));
    let rl = format!("weir_service_rate_limited_total{{service=\"{id}\",consumer=\"orders\"}}");
    assert_eq!(http::metric(&text, &rl), Some(1.0));
    reader.close().await.unwrap();
    running.stop().await.unwrap();
}

/// Two instances of one service in one group share the partitions: each
/// handles some, together all, none twice.
pub async fn two_instances_share_the_partitions<B: Broker>(broker: &B) {
    let topic = Topic::new(unique_name("shared"));
    let id = unique_name("scaled");
    let seen: Arc<Mutex<Vec<(usize, u32)>>> = Arc::default();
    let instance = |n: usize| {
        let seen = Arc::clone(&seen);
        Service::builder(id.clone())
            .consumer(
                ConsumerSpec::new(
                    "work",
                    topic.clone(),
                    move |v: Received<u32>, _ctx: Context| {
                        let seen = Arc::clone(&seen);
                        async move {
                            seen.lock().unwrap().push((n, v.value));
                            Ok(())
                        }
                    },
                )
                .partitions(4),
            )
            .build()
            .unwrap()
    };
    let a = Running::supervised(broker, instance(0));
    a.until_healthy().await;
    let b = Running::supervised(broker, instance(1));
    b.until_healthy().await;
    let producer = broker.producer().await.unwrap();
    let mut n = 0u32;
    let s = Arc::clone(&seen);
    let both = move || {
        let s = s.lock().unwrap();
        s.iter().any(|(i, _)| *i == 0) && s.iter().any(|(i, _)| *i == 1)
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while !both() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "both instances get work"
        );
        send_numbers(&producer, &topic, n..n + 20).await;
        n += 20;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let s = Arc::clone(&seen);
    wait_until("every message is handled", move || {
        s.lock().unwrap().len() >= n as usize
    })
    .await;
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    let mut values: Vec<u32> = seen.lock().unwrap().iter().map(|(_, v)| *v).collect();
    values.sort_unstable();
    values.dedup();
    assert_eq!(values.len(), n as usize, "none lost");
}

/// A responder whose handler fails for good answers with an error at once
/// (the client does not wait for its timeout); the request is dead-lettered.
pub async fn a_failed_request_is_answered_with_an_error<B: Broker>(broker: &B) {
    let requests = Topic::new(unique_name("strict-requests"));
    let service = Service::builder(unique_name("strict"))
        .consumer(ConsumerSpec::responder(
            "strict",
            requests.clone(),
            |text: Received<String>, _ctx: Context| async move {
                if text.value.is_empty() {
                    return Err(HandlerError::invalid("an empty text"));
                }
                Ok::<usize, HandlerError>(text.value.len())
            },
        ))
        .build()
        .unwrap();
    let running = Running::supervised(broker, service);
    running.until_healthy().await;
    let client = RequestClient::<String, usize>::builder("strict-client", requests.clone())
        .timeout(WAIT)
        .connect(broker)
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    match client.request(&String::new()).await {
        Err(ServiceError::Remote { reason, .. }) => assert_eq!(reason, "an empty text"),
        other => panic!("expected the service's error, got {other:?}"),
    }
    assert!(started.elapsed() < WAIT / 2, "answered, not timed out");
    assert_eq!(client.request(&"four".to_owned()).await.unwrap(), 4);
    let dlq = Topic::new(format!("{requests}.dlq"));
    let mut reader = weir_testkit::subscribed(broker, &unique_name("dlq-reader"), &[dlq]).await;
    let seen = weir_testkit::collect(&mut reader, false, |s| !s.messages.is_empty()).await;
    assert_eq!(seen.messages.len(), 1);
    reader.close().await.unwrap();
    client.close().await;
    running.stop().await.unwrap();
}

/// A handler calls another service through a client its context made.
pub async fn a_service_calls_another_through_its_context<B: Broker>(broker: &B) {
    let inner_topic = Topic::new(unique_name("double-requests"));
    let outer_topic = Topic::new(unique_name("quadruple-requests"));
    let double = Service::builder(unique_name("double"))
        .consumer(ConsumerSpec::responder(
            "double",
            inner_topic.clone(),
            |n: Received<u64>, _ctx: Context| async move { Ok::<u64, HandlerError>(n.value * 2) },
        ))
        .build()
        .unwrap();
    let client_slot: Arc<tokio::sync::OnceCell<RequestClient<u64, u64>>> = Arc::default();
    let (slot, t) = (Arc::clone(&client_slot), inner_topic.clone());
    let slot_for_handler = Arc::clone(&client_slot);
    let quadruple = Service::builder(unique_name("quadruple"))
        .on_start(move |ctx: Context| {
            let (slot, t) = (Arc::clone(&slot), t.clone());
            async move {
                let client = ctx
                    .request_client(RequestClient::builder("to-double", t))
                    .await?;
                let _ = slot.set(client);
                Ok(())
            }
        })
        .consumer(ConsumerSpec::responder(
            "quadruple",
            outer_topic.clone(),
            move |n: Received<u64>, _ctx: Context| {
                let slot = Arc::clone(&slot_for_handler);
                async move {
                    let double = slot
                        .get()
                        .ok_or_else(|| HandlerError::failed("not started yet"))?;
                    let twice = double.request(&n.value).await?;
                    Ok::<u64, HandlerError>(double.request(&twice).await?)
                }
            },
        ))
        .build()
        .unwrap();
    let a = Running::supervised(broker, double);
    let b = Running::supervised(broker, quadruple);
    a.until_healthy().await;
    b.until_healthy().await;
    let client = RequestClient::<u64, u64>::builder("outer", outer_topic)
        .timeout(WAIT)
        .connect(broker)
        .await
        .unwrap();
    assert_eq!(client.request(&5).await.unwrap(), 20);
    client.close().await;
    b.stop().await.unwrap();
    a.stop().await.unwrap();
}

/// Expands the scenarios into one test each, given a broker by `$factory`.
#[macro_export]
macro_rules! service_scenarios {
    // Every scenario: what each backend runs.
    ($factory:path) => {
        $crate::service_scenarios!($factory;
            round_trip_with_many_in_flight,
            timeout_then_late_and_unknown_responses_are_dropped,
            streaming_responses_end_at_the_marker,
            config_pushes_apply_in_order_and_reach_a_late_subscriber,
            restart_after_a_panic_loses_no_message,
            graceful_shutdown_finishes_and_commits_in_flight_work,
            metrics_and_health_are_served_over_http,
            failures_dead_letter_and_rate_limits_retry,
            two_instances_share_the_partitions,
            a_failed_request_is_answered_with_an_error,
            a_service_calls_another_through_its_context,
        );
    };
    ($factory:path; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                // The server (if any) lives until the scenario ends.
                let (broker, _server) = $factory().await;
                scenarios::$name(&broker).await;
            }
        )+
    };
}
