//! The service definition: what a service consumes, produces and listens
//! to, and its lifecycle hooks.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use weir_core::Topic;
use weir_strategies::BoxError;

use crate::config::ConfigHandler;
use crate::consumer::BoxFuture;
use crate::producer::DeclaredProducer;
use crate::{ConsumerSpec, Context, Encoding, ProducerSpec, ServiceError};

pub(crate) type Hook = Arc<dyn Fn(Context) -> BoxFuture<Result<(), BoxError>> + Send + Sync>;

/// A service: its consumers with their handlers, its producers, the
/// configuration keys it listens to, and its start and stop hooks. Made
/// with [`Service::builder`]; run once with [`Service::run`], under a
/// [`Supervisor`](crate::Supervisor) that restarts it on failure, or from
/// the command line with [`launch`](crate::launch). Cheap to clone.
///
/// A run brings the base up (producer, topics, the configuration in force,
/// consumers), calls `on_start`, works until it is asked to stop or a part
/// fails, then calls `on_stop`, stops the consumers (in-flight messages
/// finish and commit, within the shutdown timeout) and cancels the tasks
/// spawned through the [`Context`].
#[derive(Clone)]
pub struct Service {
    pub(crate) def: Arc<Definition>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("id", &self.def.id)
            .field("consumers", &self.def.consumers)
            .field("producers", &self.def.producers)
            .field("config_topic", &self.def.config_topic)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub(crate) struct Definition {
    pub(crate) id: String,
    pub(crate) encoding: Encoding,
    pub(crate) consumers: Vec<ConsumerSpec>,
    pub(crate) producers: Vec<DeclaredProducer>,
    pub(crate) config_topic: Option<Topic>,
    pub(crate) config_handlers: Vec<ConfigHandler>,
    pub(crate) config_quiet: Duration,
    pub(crate) on_start: Option<Hook>,
    pub(crate) on_stop: Option<Hook>,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) outage_timeout: Duration,
    pub(crate) commit_interval: Duration,
    pub(crate) concurrency: Option<usize>,
    pub(crate) create_topics: bool,
    pub(crate) parameters: BTreeMap<String, String>,
}

impl Service {
    /// A builder for the service `id` (its default consumer group, and the
    /// `service` label of its metrics).
    pub fn builder(id: impl Into<String>) -> ServiceBuilder {
        ServiceBuilder {
            def: Definition {
                id: id.into(),
                encoding: Encoding::default(),
                consumers: Vec::new(),
                producers: Vec::new(),
                config_topic: None,
                config_handlers: Vec::new(),
                config_quiet: Duration::from_millis(500),
                on_start: None,
                on_stop: None,
                shutdown_timeout: Duration::from_secs(30),
                outage_timeout: weir_strategies::DEFAULT_OUTAGE_TIMEOUT,
                commit_interval: Duration::from_millis(200),
                concurrency: None,
                create_topics: true,
                parameters: BTreeMap::new(),
            },
        }
    }

    /// The service's id.
    pub fn id(&self) -> &str {
        &self.def.id
    }

    /// The service with one more parameter in its `weir_service_info`
    /// metric (`launch` adds the standard arguments this way).
    pub fn with_parameter(&self, name: impl Into<String>, value: impl ToString) -> Service {
        let mut def = (*self.def).clone();
        def.parameters.insert(name.into(), value.to_string());
        Service { def: Arc::new(def) }
    }

    /// The service with `n` as its default concurrency, unless its builder
    /// set one (`--concurrency` on the command line).
    pub fn with_concurrency(&self, n: usize) -> Service {
        if self.def.concurrency.is_some() {
            return self.clone();
        }
        let mut def = (*self.def).clone();
        def.concurrency = Some(n.max(1));
        Service { def: Arc::new(def) }
    }
}

/// Builds a [`Service`]; the settings read in the order the work meets them.
///
/// ```
/// use weir_service::{ConsumerSpec, Context, ProducerSpec, Received, Service};
///
/// let service = Service::builder("echo")
///     .producer(ProducerSpec::<String>::new("out", "echoed"))
///     .consumer(ConsumerSpec::new("in", "to-echo", |m: Received<String>, ctx: Context| async move {
///         ctx.producer::<String>("out")?.send(&m.value).await?;
///         Ok(())
///     }))
///     .build()
///     .unwrap();
/// assert_eq!(service.id(), "echo");
/// ```
pub struct ServiceBuilder {
    def: Definition,
}

impl std::fmt::Debug for ServiceBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceBuilder")
            .field("id", &self.def.id)
            .finish_non_exhaustive()
    }
}

impl ServiceBuilder {
    /// How messages are encoded (default MessagePack).
    pub fn encoding(mut self, encoding: Encoding) -> Self {
        self.def.encoding = encoding;
        self
    }

    /// A parameter shown in the `weir_service_info` metric (as a label).
    /// Leave secrets out: use [`secret_parameter`](Self::secret_parameter).
    pub fn parameter(mut self, name: impl Into<String>, value: impl ToString) -> Self {
        self.def.parameters.insert(name.into(), value.to_string());
        self
    }

    /// A parameter whose value is never shown (the metric says `<secret>`).
    pub fn secret_parameter(mut self, name: impl Into<String>) -> Self {
        self.def.parameters.insert(name.into(), "<secret>".into());
        self
    }

    /// Creates missing topics at start (default on): each consumer's topic
    /// and dead-letter topic, each producer's topic, the config topic.
    pub fn create_topics(mut self, on: bool) -> Self {
        self.def.create_topics = on;
        self
    }

    /// How many messages a consumer handles at once unless its spec says
    /// (default 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.def.concurrency = Some(n.max(1));
        self
    }

    /// A producer the handlers get with [`Context::producer`].
    pub fn producer<T: Serialize + Send + Sync + 'static>(mut self, spec: ProducerSpec<T>) -> Self {
        self.def.producers.push(spec.declared());
        self
    }

    /// A consumer.
    pub fn consumer(mut self, spec: ConsumerSpec) -> Self {
        self.def.consumers.push(spec);
        self
    }

    /// Reads configuration pushes from `topic` (one partition).
    pub fn config_topic(mut self, topic: impl Into<Topic>) -> Self {
        self.def.config_topic = Some(topic.into());
        self
    }

    /// Calls `handler` with the value of config `key` (decoded as `T`;
    /// `None` when unset) and the version, at start and whenever a push
    /// changes it. Needs a [`config_topic`](Self::config_topic).
    pub fn on_config<T, F>(mut self, key: impl Into<String>, handler: F) -> Self
    where
        T: DeserializeOwned + 'static,
        F: Fn(Option<T>, u64) + Send + Sync + 'static,
    {
        self.def
            .config_handlers
            .push(ConfigHandler::new(key.into(), handler));
        self
    }

    /// At start, how long the configuration reader waits for more once the
    /// topic seems read (default 500 ms; only an empty topic, or a backend
    /// that cannot tell its lag, waits this long).
    pub fn config_fetch_quiet(mut self, d: Duration) -> Self {
        self.def.config_quiet = d;
        self
    }

    /// Called once the base is up (consumers running, configuration in force).
    pub fn on_start<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.def.on_start = Some(Arc::new(move |ctx| Box::pin(hook(ctx))));
        self
    }

    /// Called when the service begins to stop, before its consumers do.
    pub fn on_stop<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.def.on_stop = Some(Arc::new(move |ctx| Box::pin(hook(ctx))));
        self
    }

    /// How long in-flight messages may take to finish at shutdown (default 30 s).
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.def.shutdown_timeout = d;
        self
    }

    /// How long the broker may fail before a consumer gives up (and the
    /// service fails, to be restarted) (default 5 min).
    pub fn outage_timeout(mut self, d: Duration) -> Self {
        self.def.outage_timeout = d;
        self
    }

    /// How often consumers commit (default 200 ms).
    pub fn commit_interval(mut self, d: Duration) -> Self {
        self.def.commit_interval = d;
        self
    }

    /// The service.
    ///
    /// # Errors
    ///
    /// [`ServiceError::InvalidConfig`] for an empty id, two consumers or
    /// two producers of one name, or config handlers without a config topic.
    pub fn build(self) -> Result<Service, ServiceError> {
        let d = self.def;
        if d.id.trim().is_empty() {
            return Err(ServiceError::InvalidConfig("a service needs an id".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in &d.consumers {
            if !seen.insert(c.name.as_str()) {
                return Err(ServiceError::InvalidConfig(format!(
                    "service `{}` has two consumers named `{}`",
                    d.id, c.name
                )));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &d.producers {
            if !seen.insert(p.name.as_str()) {
                return Err(ServiceError::InvalidConfig(format!(
                    "service `{}` has two producers named `{}`",
                    d.id, p.name
                )));
            }
        }
        if !d.config_handlers.is_empty() && d.config_topic.is_none() {
            return Err(ServiceError::InvalidConfig(format!(
                "service `{}` has config handlers but no config topic",
                d.id
            )));
        }
        Ok(Service { def: Arc::new(d) })
    }
}
