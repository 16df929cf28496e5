//! Several services in one process, each supervised on its own.

use std::net::SocketAddr;
use std::time::Duration;

use weir_core::Broker;
use weir_strategies::ShutdownHandle;

use crate::{Health, HttpEndpoint, Service, ServiceError, Supervisor};

/// Services that run in one process on one broker: each under its own
/// [`Supervisor`] (one failing restarts alone), all sharing one health
/// registry and, with [`metrics_addr`](Self::metrics_addr), one HTTP
/// endpoint for `/metrics` and `/healthz`.
///
/// ```no_run
/// # async fn demo(a: weir_service::Service, b: weir_service::Service) -> Result<(), weir_service::ServiceError> {
/// use weir_service::ServiceGroup;
/// let broker = weir_memory::MemoryBroker::new();
/// let stop = weir_strategies::ShutdownHandle::default();
/// ServiceGroup::new()
///     .service(a)
///     .service(b)
///     .metrics_addr("127.0.0.1:9464".parse().unwrap())
///     .run(&broker, &stop)
///     .await
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct ServiceGroup {
    services: Vec<Service>,
    metrics_addr: Option<SocketAddr>,
    backoff: Option<(Duration, Duration)>,
    health: Health,
}

impl ServiceGroup {
    /// No services yet.
    pub fn new() -> Self {
        ServiceGroup::default()
    }

    /// Adds a service.
    pub fn service(mut self, service: Service) -> Self {
        self.services.push(service);
        self
    }

    /// Serves `/metrics` and `/healthz` on `addr` while the group runs.
    pub fn metrics_addr(mut self, addr: SocketAddr) -> Self {
        self.metrics_addr = Some(addr);
        self
    }

    /// The restart backoff of every service (see [`Supervisor::backoff`]).
    pub fn restart_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = Some((initial, max));
        self
    }

    /// Sets the default concurrency of every service (see
    /// [`ServiceBuilder::concurrency`](crate::ServiceBuilder::concurrency)).
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.services = self
            .services
            .into_iter()
            .map(|s| s.with_concurrency(n))
            .collect();
        self
    }

    /// Adds a parameter to every service's `weir_service_info` metric.
    pub fn with_parameter(mut self, name: &str, value: &str) -> Self {
        self.services = self
            .services
            .into_iter()
            .map(|s| s.with_parameter(name, value))
            .collect();
        self
    }

    /// The health registry the services report to.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Runs every service until `stop` is requested, then stops them all
    /// gracefully.
    ///
    /// # Errors
    ///
    /// [`ServiceError::Http`] when the endpoint cannot start; a service's
    /// error that restarting cannot cure (the others are stopped then).
    pub async fn run<B: Broker>(
        &self,
        broker: &B,
        stop: &ShutdownHandle,
    ) -> Result<(), ServiceError> {
        crate::exporter::prometheus();
        let _endpoint = match self.metrics_addr {
            Some(addr) => Some(HttpEndpoint::start(addr, self.health.clone()).await?),
            None => None,
        };
        let mut runs = tokio::task::JoinSet::new();
        for service in &self.services {
            let mut supervisor = Supervisor::new(service.clone());
            if let Some((initial, max)) = self.backoff {
                supervisor = supervisor.backoff(initial, max);
            }
            let (broker, stop, health) = (broker.clone(), stop.clone(), self.health.clone());
            runs.spawn(async move { supervisor.run(&broker, &stop, &health).await });
        }
        let mut first_error = None;
        while let Some(done) = runs.join_next().await {
            let outcome = done.map_err(|e| ServiceError::Task {
                service: "group".into(),
                what: "a supervisor".into(),
                reason: e.to_string(),
            });
            if let Err(e) | Ok(Err(e)) = outcome {
                stop.shutdown();
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
