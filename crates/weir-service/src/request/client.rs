//! The client side of request/response.

use std::collections::{BTreeSet, HashMap};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot, watch};
use weir_core::{
    Broker, ConsumerConfig, Destination, OffsetReset, Partition, Payload, Producer, Topic,
};
use weir_strategies::{CommitPolicy, Pipeline, ShutdownHandle, StrategyContext, StreamProcessor};

use super::wire::{
    HEADER_CORRELATION_ID, HEADER_END_OF_STREAM, HEADER_ERROR, HEADER_PROBE, HEADER_REPLY_TO,
};
use crate::producer::SharedProducer;
use crate::run::ensure_topic;
use crate::{Encoding, ServiceError};

/// How long a client waits for its response consumer to be assigned.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// Where a response goes: the request waiting for one, or a stream.
enum Waiting {
    One(oneshot::Sender<Payload>),
    Stream(mpsc::UnboundedSender<Payload>),
}

type Pending = Arc<Mutex<HashMap<String, Waiting>>>;

/// Sends requests of type `Req` and awaits responses of type `Resp`. Cheap
/// to clone; every clone shares the one response consumer, so any number
/// of requests may be in flight at once.
///
/// ```no_run
/// # async fn demo() -> Result<(), weir_service::ServiceError> {
/// use std::time::Duration;
/// use weir_service::RequestClient;
/// let broker = weir_memory::MemoryBroker::new();
/// let client = RequestClient::<String, u64>::builder("count-words", "count-requests")
///     .timeout(Duration::from_secs(5))
///     .connect(&broker)
///     .await?;
/// let words = client.request(&"a few words".to_owned()).await?;
/// # let _ = words; Ok(()) }
/// ```
pub struct RequestClient<Req, Resp> {
    inner: Arc<Inner>,
    types: PhantomData<fn(Req) -> Resp>,
}

impl<Req, Resp> Clone for RequestClient<Req, Resp> {
    fn clone(&self) -> Self {
        RequestClient {
            inner: Arc::clone(&self.inner),
            types: PhantomData,
        }
    }
}

impl<Req, Resp> std::fmt::Debug for RequestClient<Req, Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestClient")
            .field("name", &self.inner.name)
            .field("requests", &self.inner.requests)
            .field("responses", &self.inner.responses)
            .finish_non_exhaustive()
    }
}

struct Inner {
    name: String,
    requests: Topic,
    responses: Topic,
    encoding: Encoding,
    timeout: Duration,
    producer: SharedProducer,
    pending: Pending,
    prefix: String,
    next_id: AtomicU64,
    stop: ShutdownHandle,
    reader: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// `weir_service_client_requests_total` of this client.
    sent: metrics::Counter,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.shutdown();
    }
}

/// Builds a [`RequestClient`].
#[derive(Debug)]
pub struct RequestClientBuilder<Req, Resp> {
    name: String,
    requests: Topic,
    responses: Option<Topic>,
    encoding: Encoding,
    timeout: Duration,
    response_partitions: u32,
    types: PhantomData<fn(Req) -> Resp>,
}

impl<Req, Resp> RequestClient<Req, Resp>
where
    Req: Serialize + Send + Sync + 'static,
    Resp: DeserializeOwned + Send + 'static,
{
    /// A client called `name` (its metrics label) sending to `requests`.
    pub fn builder(
        name: impl Into<String>,
        requests: impl Into<Topic>,
    ) -> RequestClientBuilder<Req, Resp> {
        RequestClientBuilder {
            name: name.into(),
            requests: requests.into(),
            responses: None,
            encoding: Encoding::default(),
            timeout: Duration::from_secs(30),
            response_partitions: 1,
            types: PhantomData,
        }
    }

    /// Sends `request` and awaits its response.
    ///
    /// # Errors
    ///
    /// [`ServiceError::Timeout`] when none came in time,
    /// [`ServiceError::Remote`] when the service answered with an error,
    /// [`ServiceError::Codec`] for a value that does not encode or a
    /// response that does not decode, [`ServiceError::Broker`] when sending
    /// failed, [`ServiceError::Closed`] after [`close`](Self::close).
    pub async fn request(&self, request: &Req) -> Result<Resp, ServiceError> {
        let (tx, rx) = oneshot::channel();
        let sent = self.send(request, Waiting::One(tx)).await?;
        let outcome = tokio::time::timeout(self.inner.timeout, rx).await;
        let id = sent.id.clone();
        drop(sent);
        match outcome {
            Ok(Ok(payload)) => self.decode(&id, &payload).and_then(|r| {
                r.ok_or_else(|| ServiceError::Remote {
                    id: id.clone(),
                    reason: "the response stream ended without a response".into(),
                })
            }),
            Ok(Err(_)) => Err(ServiceError::Closed("request client")),
            Err(_) => Err(self.timed_out(id)),
        }
    }

    /// Sends `request` and returns its stream of responses, which ends at
    /// the service's end-of-stream marker. The timeout applies to each
    /// wait for the next response.
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request), for sending.
    pub async fn request_stream(
        &self,
        request: &Req,
    ) -> Result<ResponseStream<Req, Resp>, ServiceError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let sent = self.send(request, Waiting::Stream(tx)).await?;
        Ok(ResponseStream {
            client: self.clone(),
            sent: Some(sent),
            rx,
        })
    }

    async fn send(&self, request: &Req, waiting: Waiting) -> Result<InFlight, ServiceError> {
        let i = &self.inner;
        if i.stop.is_requested() {
            return Err(ServiceError::Closed("request client"));
        }
        let id = format!("{}-{}", i.prefix, i.next_id.fetch_add(1, Ordering::Relaxed));
        let bytes = i
            .encoding
            .encode(request)
            .map_err(|source| ServiceError::Codec {
                what: format!("encoding request `{id}` of client `{}`", i.name),
                source,
            })?;
        lock(&i.pending).insert(id.clone(), waiting);
        let in_flight = InFlight {
            pending: Arc::clone(&i.pending),
            id: id.clone(),
        };
        let payload = Payload::new(bytes)
            .with_key(id.clone())
            .with_header(HEADER_CORRELATION_ID, id.clone())
            .with_header(HEADER_REPLY_TO, i.responses.as_str().to_owned());
        i.producer
            .produce(Destination::Topic(i.requests.clone()), payload)
            .await
            .map_err(|e| {
                ServiceError::broker(format!("sending request `{id}` to `{}`", i.requests), e)
            })?;
        i.sent.increment(1);
        Ok(in_flight)
    }

    /// The value of a response, `None` for a bare end-of-stream marker.
    fn decode(&self, id: &str, payload: &Payload) -> Result<Option<Resp>, ServiceError> {
        if let Some(reason) = payload.headers.get(HEADER_ERROR) {
            return Err(ServiceError::Remote {
                id: id.to_owned(),
                reason: String::from_utf8_lossy(reason).into_owned(),
            });
        }
        if payload.headers.get(HEADER_END_OF_STREAM).is_some() && payload.value.is_empty() {
            return Ok(None);
        }
        self.inner
            .encoding
            .decode(&payload.value)
            .map(Some)
            .map_err(|source| ServiceError::Codec {
                what: format!(
                    "decoding the response to request `{id}` on `{}`",
                    self.inner.responses
                ),
                source,
            })
    }

    fn timed_out(&self, id: String) -> ServiceError {
        let i = &self.inner;
        metrics::counter!(crate::metrics::REQUEST_TIMEOUTS_TOTAL, "client" => i.name.clone())
            .increment(1);
        ServiceError::Timeout {
            id,
            topic: i.requests.as_str().to_owned(),
            timeout: i.timeout,
        }
    }

    /// How many requests wait for a response now.
    pub fn in_flight(&self) -> usize {
        lock(&self.inner.pending).len()
    }

    /// Stops the response consumer; requests still waiting fail with
    /// [`ServiceError::Closed`].
    pub async fn close(&self) {
        self.inner.stop.shutdown();
        let reader = self
            .inner
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(r) = reader {
            let _ = r.await;
        }
        lock(&self.inner.pending).clear();
    }
}

/// A request waiting for its response; forgotten when dropped (timed out,
/// answered, or abandoned), so a late response counts as unknown.
struct InFlight {
    pending: Pending,
    id: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.pending).remove(&self.id);
    }
}

fn lock(p: &Pending) -> std::sync::MutexGuard<'_, HashMap<String, Waiting>> {
    p.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The responses to one streaming request, in the order sent.
pub struct ResponseStream<Req, Resp> {
    client: RequestClient<Req, Resp>,
    sent: Option<InFlight>,
    rx: mpsc::UnboundedReceiver<Payload>,
}

impl<Req, Resp> std::fmt::Debug for ResponseStream<Req, Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseStream")
            .field("id", &self.sent.as_ref().map(|s| s.id.as_str()))
            .finish_non_exhaustive()
    }
}

impl<Req, Resp> ResponseStream<Req, Resp>
where
    Req: Serialize + Send + Sync + 'static,
    Resp: DeserializeOwned + Send + 'static,
{
    /// The next response; `None` after the end-of-stream marker.
    ///
    /// # Errors
    ///
    /// [`ServiceError::Timeout`] when the next one does not come in time
    /// (the stream then ends), and the errors of
    /// [`RequestClient::request`].
    pub async fn next(&mut self) -> Option<Result<Resp, ServiceError>> {
        let id = self.sent.as_ref()?.id.clone();
        let got = tokio::time::timeout(self.client.inner.timeout, self.rx.recv()).await;
        let payload = match got {
            Ok(Some(p)) => p,
            Ok(None) => {
                self.sent = None;
                return Some(Err(ServiceError::Closed("request client")));
            }
            Err(_) => {
                self.sent = None;
                return Some(Err(self.client.timed_out(id)));
            }
        };
        let end = payload.headers.get(HEADER_END_OF_STREAM).is_some();
        if end {
            self.sent = None;
        }
        match self.client.decode(&id, &payload) {
            Ok(Some(v)) => Some(Ok(v)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

impl<Req, Resp> RequestClientBuilder<Req, Resp>
where
    Req: Serialize + Send + Sync + 'static,
    Resp: DeserializeOwned + Send + 'static,
{
    /// The topic responses come back on (default `<requests>.responses`).
    pub fn responses(mut self, topic: impl Into<Topic>) -> Self {
        self.responses = Some(topic.into());
        self
    }

    /// Partitions of the response topic if the client creates it (default 1).
    pub fn response_partitions(mut self, n: u32) -> Self {
        self.response_partitions = n;
        self
    }

    /// The encoding, the same as the service's (default MessagePack).
    pub fn encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// How long a request waits for its response (default 30 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Connects: creates the response topic if missing, starts the
    /// response consumer and waits until it reads (so no response is missed).
    ///
    /// # Errors
    ///
    /// [`ServiceError::Broker`] when the broker cannot be reached or refuses.
    pub async fn connect<B: Broker>(
        self,
        broker: &B,
    ) -> Result<RequestClient<Req, Resp>, ServiceError> {
        let responses = self.response_topic();
        let reader = start_reader(
            broker.clone(),
            self.name.clone(),
            responses,
            self.response_partitions,
        )
        .await?;
        Ok(self.with_reader(reader))
    }

    /// Connects through a broker whose type is hidden (a service's own).
    pub(crate) async fn connect_through(
        self,
        broker: &dyn ReaderFactory,
    ) -> Result<RequestClient<Req, Resp>, ServiceError> {
        let responses = self.response_topic();
        let reader = broker
            .start_reader(self.name.clone(), responses, self.response_partitions)
            .await?;
        Ok(self.with_reader(reader))
    }

    fn response_topic(&self) -> Topic {
        self.responses
            .clone()
            .unwrap_or_else(|| Topic::new(format!("{}.responses", self.requests)))
    }

    fn with_reader(self, reader: Reader) -> RequestClient<Req, Resp> {
        RequestClient {
            inner: Arc::new(Inner {
                sent: metrics::counter!(crate::metrics::REQUESTS_TOTAL, "client" => self.name.clone()),
                prefix: crate::id::unique(&self.name),
                name: self.name,
                requests: self.requests,
                responses: reader.responses,
                encoding: self.encoding,
                timeout: self.timeout,
                producer: reader.producer,
                pending: reader.pending,
                next_id: AtomicU64::new(0),
                stop: reader.stop,
                reader: Mutex::new(Some(reader.task)),
            }),
            types: PhantomData,
        }
    }
}

/// A running response consumer and what sending needs.
pub(crate) struct Reader {
    responses: Topic,
    producer: SharedProducer,
    pending: Pending,
    stop: ShutdownHandle,
    task: tokio::task::JoinHandle<()>,
}

type ReaderFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Reader, ServiceError>> + Send>>;

/// Starts response readers on a broker whose type is hidden: what lets a
/// handler's [`Context`](crate::Context) make clients.
pub(crate) trait ReaderFactory: Send + Sync + 'static {
    fn start_reader(&self, name: String, responses: Topic, partitions: u32) -> ReaderFuture;
}

impl<B: Broker> ReaderFactory for B {
    fn start_reader(&self, name: String, responses: Topic, partitions: u32) -> ReaderFuture {
        Box::pin(start_reader(self.clone(), name, responses, partitions))
    }
}

/// Creates the response topic if missing, starts its consumer (a group of
/// its own, from the newest message on) and waits until it reads, so that
/// no response is missed.
async fn start_reader<B: Broker>(
    broker: B,
    name: String,
    responses: Topic,
    partitions: u32,
) -> Result<Reader, ServiceError> {
    ensure_topic(&broker, &responses, partitions).await?;
    let producer = broker
        .producer()
        .await
        .map_err(|e| ServiceError::broker(format!("client `{name}` making its producer"), e))?;
    let group = crate::id::unique(&format!("{name}.responses"));
    let config = ConsumerConfig::builder(group)
        .offset_reset(OffsetReset::Latest)
        .build()
        .map_err(|e| ServiceError::broker("configuring the response consumer", e))?;
    let consumer = broker
        .consumer(config)
        .await
        .map_err(|e| ServiceError::broker(format!("client `{name}` reading `{responses}`"), e))?;
    let pending: Pending = Arc::default();
    let (assigned_tx, mut assigned_rx) = watch::channel(Vec::<Partition>::new());
    let probe = crate::id::unique(&format!("{name}.probe"));
    let (probed_tx, mut probed_rx) = watch::channel(BTreeSet::<u32>::new());
    let dispatch = Dispatch {
        pending: Arc::clone(&pending),
        client: name.clone(),
        probe: probe.clone(),
        probed: Arc::new(probed_tx),
    };
    let processor = StreamProcessor::builder(
        consumer,
        [responses.clone()],
        move |ctx: &StrategyContext| {
            assigned_tx.send_replace(ctx.partitions().keys().cloned().collect());
            let dispatch = dispatch.clone();
            Pipeline::new()
                .map(move |p: Payload| {
                    dispatch.deliver(p);
                    Ok(())
                })
                .commit()
        },
    )
    .commit_policy(CommitPolicy::every(Duration::from_secs(1)))
    .join_timeout(Some(Duration::from_secs(1)))
    .build();
    let stop = processor.shutdown_handle();
    let task_name = name.clone();
    let task = tokio::spawn(async move {
        if let Err(e) = processor.run().await {
            tracing::error!(client = %task_name, error = %weir_core::ErrorReport::new(&e), "the response consumer stopped");
        }
    });
    // Ready once a probe sent to each partition came back: the reader's
    // position is then settled before any request goes out (a backend may
    // settle "from the newest message" only at its first fetch, after the
    // assignment), so no response can slip past it.
    let ready = tokio::time::timeout(READY_WITHIN, async {
        let partitions = assigned_rx
            .wait_for(|p| !p.is_empty())
            .await
            .map_err(|_| ServiceError::Closed("response consumer"))?
            .clone();
        // Sent again every half second to the partitions whose probe has
        // not come back: one sent before the position settled is skipped.
        loop {
            let seen = probed_rx.borrow_and_update().clone();
            let missing: Vec<&Partition> = partitions
                .iter()
                .filter(|p| !seen.contains(&p.index))
                .collect();
            if missing.is_empty() {
                break;
            }
            for p in missing {
                let payload =
                    Payload::default().with_header(HEADER_PROBE, format!("{probe}/{}", p.index));
                producer
                    .produce(Destination::Partition(p.clone()), payload)
                    .await
                    .map_err(|e| ServiceError::broker(format!("client `{name}` probing {p}"), e))?;
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), probed_rx.changed()).await;
        }
        Ok::<(), ServiceError>(())
    })
    .await;
    match ready {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            stop.shutdown();
            return Err(e);
        }
        Err(_) => {
            stop.shutdown();
            return Err(ServiceError::broker(
                format!("client `{name}` waiting to read `{responses}`"),
                weir_core::BrokerError::Unreachable {
                    endpoint: broker.name().to_owned(),
                    reason: format!(
                        "the response consumer was not reading within {READY_WITHIN:?}"
                    ),
                },
            ));
        }
    }
    Ok(Reader {
        responses,
        producer: Arc::new(producer),
        pending,
        stop,
        task,
    })
}

/// Hands each response to the request waiting for it.
#[derive(Clone)]
struct Dispatch {
    pending: Pending,
    client: String,
    /// This client's probe id, and the partitions its probes came back from.
    probe: String,
    probed: Arc<watch::Sender<BTreeSet<u32>>>,
}

impl Dispatch {
    fn deliver(&self, payload: Payload) {
        if let Some(probe) = payload.headers.get(HEADER_PROBE) {
            // Any client's probe: never a response. Ours: that partition is read.
            let ours = std::str::from_utf8(probe)
                .ok()
                .and_then(|p| p.rsplit_once('/'))
                .filter(|(id, _)| *id == self.probe)
                .and_then(|(_, index)| index.parse::<u32>().ok());
            if let Some(index) = ours {
                self.probed.send_modify(|seen| {
                    seen.insert(index);
                });
            }
            return;
        }
        let id = payload
            .headers
            .get(HEADER_CORRELATION_ID)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::to_owned);
        let end = payload.headers.get(HEADER_END_OF_STREAM).is_some();
        let mut pending = lock(&self.pending);
        let delivered = match id.as_deref().and_then(|id| pending.get(id)) {
            Some(Waiting::One(_)) => match id.as_deref().and_then(|id| pending.remove(id)) {
                Some(Waiting::One(tx)) => tx.send(payload).is_ok(),
                _ => false,
            },
            Some(Waiting::Stream(tx)) => {
                let ok = tx.send(payload).is_ok();
                if end && let Some(id) = &id {
                    pending.remove(id);
                }
                ok
            }
            None => false,
        };
        if !delivered {
            tracing::debug!(client = %self.client, id = ?id, "dropping a response nobody waits for");
            metrics::counter!(crate::metrics::RESPONSES_DROPPED_TOTAL, "client" => self.client.clone())
                .increment(1);
        }
    }
}
