//! What a handler and a lifecycle hook get from the base.

use std::any::TypeId;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use weir_strategies::BoxError;

use crate::config::ConfigView;
use crate::producer::{DeclaredProducer, SharedProducer};
use crate::request::ReaderFactory;
use crate::{Encoding, RequestClient, RequestClientBuilder, Sender, ServiceError};
use serde::de::DeserializeOwned;

/// The running service as its handlers and hooks see it: its producers,
/// its configuration, and a task tracker whose tasks are cancelled at
/// shutdown. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

struct Inner {
    service: String,
    encoding: Encoding,
    producer: SharedProducer,
    producers: HashMap<String, DeclaredProducer>,
    tracker: TaskTracker,
    token: CancellationToken,
    config: ConfigView,
    failures: mpsc::UnboundedSender<ServiceError>,
    broker: Arc<dyn ReaderFactory>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("service", &self.inner.service)
            .finish_non_exhaustive()
    }
}

pub(crate) struct ContextParts {
    pub(crate) service: String,
    pub(crate) encoding: Encoding,
    pub(crate) producer: SharedProducer,
    pub(crate) producers: HashMap<String, DeclaredProducer>,
    pub(crate) tracker: TaskTracker,
    pub(crate) token: CancellationToken,
    pub(crate) config: ConfigView,
    pub(crate) failures: mpsc::UnboundedSender<ServiceError>,
    pub(crate) broker: Arc<dyn ReaderFactory>,
}

impl Context {
    pub(crate) fn new(p: ContextParts) -> Self {
        Context {
            inner: Arc::new(Inner {
                service: p.service,
                encoding: p.encoding,
                producer: p.producer,
                producers: p.producers,
                tracker: p.tracker,
                token: p.token,
                config: p.config,
                failures: p.failures,
                broker: p.broker,
            }),
        }
    }

    /// The service's id.
    pub fn service_id(&self) -> &str {
        &self.inner.service
    }

    /// The service's encoding.
    pub fn encoding(&self) -> Encoding {
        self.inner.encoding
    }

    /// The configuration in force.
    pub fn config(&self) -> &ConfigView {
        &self.inner.config
    }

    /// The sender of the producer the service declared as `name`.
    ///
    /// # Errors
    ///
    /// [`ServiceError::UnknownProducer`] for a name not declared,
    /// [`ServiceError::ProducerType`] when its spec sends another type.
    pub fn producer<T: Serialize + 'static>(&self, name: &str) -> Result<Sender<T>, ServiceError> {
        let declared =
            self.inner
                .producers
                .get(name)
                .ok_or_else(|| ServiceError::UnknownProducer {
                    service: self.inner.service.clone(),
                    producer: name.to_owned(),
                })?;
        if declared.type_id != TypeId::of::<T>() {
            return Err(ServiceError::ProducerType {
                producer: name.to_owned(),
                declared: declared.type_name,
                asked: std::any::type_name::<T>(),
            });
        }
        Ok(Sender::new(
            &self.inner.service,
            declared,
            self.inner.encoding,
            Arc::clone(&self.inner.producer),
        ))
    }

    /// A request client on the service's broker, to call other services
    /// from a handler or a hook. Make it once (in `on_start`) and share it:
    /// each client has a response consumer of its own.
    ///
    /// # Errors
    ///
    /// As [`RequestClientBuilder::connect`].
    pub async fn request_client<Req, Resp>(
        &self,
        builder: RequestClientBuilder<Req, Resp>,
    ) -> Result<RequestClient<Req, Resp>, ServiceError>
    where
        Req: Serialize + Send + Sync + 'static,
        Resp: DeserializeOwned + Send + 'static,
    {
        builder.connect_through(self.inner.broker.as_ref()).await
    }

    pub(crate) fn shared_producer(&self) -> &SharedProducer {
        &self.inner.producer
    }

    /// Resolves when the service begins to shut down.
    pub async fn cancelled(&self) {
        self.inner.token.cancelled().await;
    }

    /// Whether the service is shutting down.
    pub fn is_cancelled(&self) -> bool {
        self.inner.token.is_cancelled()
    }

    /// Runs `task` as part of the service: tracked, dropped at shutdown if
    /// still running, and, should it fail or panic, the service fails too
    /// (and the supervisor restarts it). `name` names it in that error.
    pub fn spawn<F>(&self, name: impl Into<String>, task: F)
    where
        F: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        let name = name.into();
        let token = self.inner.token.clone();
        let failures = self.inner.failures.clone();
        let service = self.inner.service.clone();
        let handle = self.inner.tracker.spawn(async move {
            tokio::select! {
                () = token.cancelled() => Ok(()),
                r = task => r,
            }
        });
        self.inner.tracker.spawn(async move {
            let reason = match handle.await {
                Ok(Ok(())) => return,
                Ok(Err(e)) => weir_core::ErrorReport::new(e.as_ref()).to_string(),
                Err(e) if e.is_panic() => {
                    format!(
                        "panicked: {}",
                        crate::panic::message(e.into_panic().as_ref())
                    )
                }
                Err(e) => e.to_string(),
            };
            let _ = failures.send(ServiceError::Task {
                service,
                what: format!("task `{name}`"),
                reason,
            });
        });
    }
}
