//! Producer specs and the typed senders a handler gets from them.

use std::any::TypeId;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use weir_core::{BrokerError, Destination, Payload, Produced, Producer, Topic};

use crate::{Encoding, ServiceError};

type ProduceFuture<'a> = Pin<Box<dyn Future<Output = Result<Produced, BrokerError>> + Send + 'a>>;

/// Any backend's producer, behind one type: what lets a service definition
/// and its handlers stay free of the broker's type.
pub(crate) trait AnyProducer: Send + Sync + 'static {
    fn produce(&self, destination: Destination, payload: Payload) -> ProduceFuture<'_>;
}

impl<P: Producer> AnyProducer for P {
    fn produce(&self, destination: Destination, payload: Payload) -> ProduceFuture<'_> {
        Box::pin(Producer::produce(self, destination, payload))
    }
}

/// A shared, type-erased producer.
pub(crate) type SharedProducer = Arc<dyn AnyProducer>;

/// A producer a service declares: a name (its metrics label and how
/// handlers ask for it), a topic and the type it sends.
///
/// ```
/// use weir_service::ProducerSpec;
/// let counts = ProducerSpec::<(String, u64)>::new("counts", "word-counts");
/// assert_eq!(counts.topic().as_str(), "word-counts");
/// ```
pub struct ProducerSpec<T> {
    pub(crate) name: String,
    pub(crate) topic: Topic,
    pub(crate) partitions: u32,
    types: PhantomData<fn(T)>,
}

impl<T> std::fmt::Debug for ProducerSpec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerSpec")
            .field("name", &self.name)
            .field("topic", &self.topic)
            .field("type", &std::any::type_name::<T>())
            .finish()
    }
}

impl<T: Serialize + Send + Sync + 'static> ProducerSpec<T> {
    /// A producer called `name` sending `T` to `topic`.
    pub fn new(name: impl Into<String>, topic: impl Into<Topic>) -> Self {
        ProducerSpec {
            name: name.into(),
            topic: topic.into(),
            partitions: 4,
            types: PhantomData,
        }
    }

    /// Partitions of the topic when the service creates it (default 4).
    pub fn partitions(mut self, n: u32) -> Self {
        self.partitions = n;
        self
    }

    /// The topic.
    pub fn topic(&self) -> &Topic {
        &self.topic
    }

    pub(crate) fn declared(&self) -> DeclaredProducer {
        DeclaredProducer {
            name: self.name.clone(),
            topic: self.topic.clone(),
            partitions: self.partitions,
            type_id: TypeId::of::<T>(),
            type_name: std::any::type_name::<T>(),
        }
    }
}

/// A producer spec without its type, as the service keeps it.
#[derive(Clone, Debug)]
pub(crate) struct DeclaredProducer {
    pub(crate) name: String,
    pub(crate) topic: Topic,
    pub(crate) partitions: u32,
    pub(crate) type_id: TypeId,
    pub(crate) type_name: &'static str,
}

/// Sends `T` to a declared producer's topic, encoded with the service's
/// [`Encoding`]. Cheap to clone.
pub struct Sender<T> {
    inner: Arc<SenderInner>,
    types: PhantomData<fn(T)>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            inner: Arc::clone(&self.inner),
            types: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("producer", &self.inner.name)
            .field("topic", &self.inner.topic)
            .finish()
    }
}

struct SenderInner {
    name: String,
    sent: metrics::Counter,
    topic: Topic,
    encoding: Encoding,
    producer: SharedProducer,
}

impl<T: Serialize> Sender<T> {
    pub(crate) fn new(
        service: &str,
        declared: &DeclaredProducer,
        encoding: Encoding,
        producer: SharedProducer,
    ) -> Self {
        Sender {
            inner: Arc::new(SenderInner {
                sent: metrics::counter!(crate::metrics::PRODUCED_TOTAL,
                    "service" => service.to_owned(), "producer" => declared.name.clone()),
                name: declared.name.clone(),
                topic: declared.topic.clone(),
                encoding,
                producer,
            }),
            types: PhantomData,
        }
    }

    /// Sends `value` to the topic (any partition).
    ///
    /// # Errors
    ///
    /// [`ServiceError::Codec`] if it cannot be encoded,
    /// [`ServiceError::Broker`] if the broker refuses it.
    pub async fn send(&self, value: &T) -> Result<Produced, ServiceError> {
        self.send_payload(self.payload(value)?).await
    }

    /// Sends `value` with a key: the same key always lands on the same partition.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn send_keyed(
        &self,
        key: impl Into<Bytes>,
        value: &T,
    ) -> Result<Produced, ServiceError> {
        self.send_payload(self.payload(value)?.with_key(key)).await
    }

    fn payload(&self, value: &T) -> Result<Payload, ServiceError> {
        let i = &self.inner;
        let bytes = i
            .encoding
            .encode(value)
            .map_err(|source| ServiceError::Codec {
                what: format!("encoding a message for producer `{}`", i.name),
                source,
            })?;
        Ok(Payload::new(bytes))
    }

    async fn send_payload(&self, payload: Payload) -> Result<Produced, ServiceError> {
        let i = &self.inner;
        let produced = i
            .producer
            .produce(Destination::Topic(i.topic.clone()), payload)
            .await
            .map_err(|e| {
                ServiceError::broker(format!("producer `{}` sending to `{}`", i.name, i.topic), e)
            })?;
        i.sent.increment(1);
        Ok(produced)
    }
}
