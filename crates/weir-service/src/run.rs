//! One run of a service on a broker: up, work, down.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use weir_core::{Broker, BrokerError, BrokerExt, ConsumerConfig, Payload, Topic};
use weir_strategies::{
    CommitPolicy, DeadLetterQueue, Pipeline, ShutdownHandle, StrategyContext, StreamProcessor,
};

use crate::config::{ConfigView, fetch};
use crate::consumer::Attempts;
use crate::context::ContextParts;
use crate::metrics::ConsumerLabels;
use crate::producer::SharedProducer;
use crate::rate_gate::RateGate;
use crate::service::{Definition, Hook};
use crate::{Context, Health, PartState, Service, ServiceError};

/// Stops what a run started if the run is dropped before it ends.
struct StopOnDrop {
    token: CancellationToken,
    processors: Vec<ShutdownHandle>,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.token.cancel();
        for p in &self.processors {
            p.shutdown();
        }
    }
}

impl Service {
    /// Runs the service once on `broker` until `stop` is requested (then
    /// `Ok`) or a part fails (then its error). `health` hears of every
    /// consumer's state.
    ///
    /// # Errors
    ///
    /// [`ServiceError::Broker`] when setting up fails,
    /// [`ServiceError::ConsumerFailed`] when a consumer stops with an error
    /// (a handler panicked or returned `Fatal`, or an outage lasted too long),
    /// [`ServiceError::Task`] when a hook or a spawned task fails.
    pub async fn run<B: Broker>(
        &self,
        broker: &B,
        stop: &ShutdownHandle,
        health: &Health,
    ) -> Result<(), ServiceError> {
        let d = &*self.def;
        health.clear(&d.id);
        health.set(&d.id, "service", PartState::Starting);
        record_info(d, broker.name());
        let producer = broker.producer().await.map_err(|e| {
            ServiceError::broker(format!("service `{}` making its producer", d.id), e)
        })?;
        if d.create_topics {
            create_topics(broker, d).await?;
        }
        let shared: SharedProducer = Arc::new(producer.clone());
        let tracker = TaskTracker::new();
        let mut guard = StopOnDrop {
            token: CancellationToken::new(),
            processors: Vec::new(),
        };
        let (fail_tx, mut fail_rx) = mpsc::unbounded_channel();
        let view = ConfigView::default();
        let ctx = Context::new(ContextParts {
            service: d.id.clone(),
            encoding: d.encoding,
            producer: shared,
            producers: d
                .producers
                .iter()
                .map(|p| (p.name.clone(), p.clone()))
                .collect::<HashMap<_, _>>(),
            tracker: tracker.clone(),
            token: guard.token.clone(),
            config: view.clone(),
            failures: fail_tx.clone(),
            broker: Arc::new(broker.clone()),
        });

        if let Some(topic) = &d.config_topic {
            let follower = fetch(
                broker,
                topic,
                &d.id,
                view,
                d.config_handlers.clone(),
                d.config_quiet,
            )
            .await?;
            let token = guard.token.clone();
            let fail = fail_tx.clone();
            let limit = d.outage_timeout;
            tracker.spawn(async move {
                if let Err(e) = follower.follow(token.cancelled(), limit).await {
                    let _ = fail.send(e);
                }
            });
        }

        for spec in &d.consumers {
            let group = spec.group.clone().unwrap_or_else(|| d.id.clone());
            let config = ConsumerConfig::builder(group)
                .client_id(d.id.clone())
                .build()
                .map_err(|e| {
                    ServiceError::broker(format!("configuring consumer `{}`", spec.name), e)
                })?;
            let consumer = broker
                .consumer(config)
                .await
                .map_err(|e| ServiceError::broker(format!("making consumer `{}`", spec.name), e))?;
            let labels = ConsumerLabels::new(&d.id, &spec.name);
            let attempts = Attempts {
                retry: spec.retry,
                gate: RateGate::default(),
                labels: labels.clone(),
            };
            let handler = Arc::clone(&spec.handler);
            let c = ctx.clone();
            let concurrency = spec.concurrency.or(d.concurrency).unwrap_or(1);
            let factory = move |_: &StrategyContext| {
                let handler = Arc::clone(&handler);
                let c = c.clone();
                let attempts = attempts.clone();
                Pipeline::new()
                    .map_async(move |p: Payload| handler(p, c.clone(), attempts.clone()))
                    .concurrency(concurrency)
                    .commit()
            };
            let processor = StreamProcessor::builder(consumer, [spec.topic.clone()], factory)
                .dead_letter(DeadLetterQueue::new(producer.clone(), spec.dead_letter()))
                .commit_policy(CommitPolicy::every(d.commit_interval))
                .join_timeout(Some(d.shutdown_timeout))
                .outage_timeout(d.outage_timeout)
                .build();
            guard.processors.push(processor.shutdown_handle());
            health.set(&d.id, &spec.name, PartState::Running);
            labels.up(true);
            let fail = fail_tx.clone();
            let health = health.clone();
            tracker.spawn(async move {
                let outcome = processor.run().await;
                labels.up(false);
                match outcome {
                    Ok(report) => {
                        tracing::info!(service = %labels.service, consumer = %labels.consumer, ?report, "consumer stopped");
                        health.set(&labels.service, &labels.consumer, PartState::Stopped);
                    }
                    Err(source) => {
                        let reason = weir_core::ErrorReport::new(&source).to_string();
                        health.set(&labels.service, &labels.consumer, PartState::Failed(reason));
                        let _ = fail.send(ServiceError::ConsumerFailed {
                            service: labels.service,
                            consumer: labels.consumer,
                            source: Box::new(source),
                        });
                    }
                }
            });
        }
        drop(fail_tx);

        let mut outcome = match &d.on_start {
            Some(hook) => call_hook(hook, &ctx, d, "on_start").await,
            None => Ok(()),
        };
        if outcome.is_ok() {
            health.set(&d.id, "service", PartState::Running);
            tracing::info!(service = %d.id, "service started");
            outcome = tokio::select! {
                () = stop.requested() => Ok(()),
                Some(e) = fail_rx.recv() => Err(e),
            };
        }
        match &outcome {
            Ok(()) => tracing::info!(service = %d.id, "service stopping"),
            Err(e) => {
                tracing::error!(service = %d.id, error = %weir_core::ErrorReport::new(e), "service failed: stopping")
            }
        }
        if let Some(hook) = &d.on_stop
            && let Err(e) = call_hook(hook, &ctx, d, "on_stop").await
        {
            tracing::error!(service = %d.id, error = %e, "on_stop failed");
        }
        drop(guard);
        tracker.close();
        let margin = d.shutdown_timeout + std::time::Duration::from_secs(5);
        if tokio::time::timeout(margin, tracker.wait()).await.is_err() {
            tracing::warn!(service = %d.id, "tasks still running after the shutdown timeout");
        }
        let state = match &outcome {
            Ok(()) => PartState::Stopped,
            Err(e) => PartState::Failed(weir_core::ErrorReport::new(e).to_string()),
        };
        health.set(&d.id, "service", state);
        outcome
    }
}

async fn call_hook(
    hook: &Hook,
    ctx: &Context,
    d: &Definition,
    what: &str,
) -> Result<(), ServiceError> {
    let task = |reason: String| ServiceError::Task {
        service: d.id.clone(),
        what: what.to_owned(),
        reason,
    };
    match AssertUnwindSafe(hook(ctx.clone())).catch_unwind().await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(task(weir_core::ErrorReport::new(e.as_ref()).to_string())),
        Err(panic) => Err(task(format!(
            "panicked: {}",
            crate::panic::message(panic.as_ref())
        ))),
    }
}

async fn create_topics<B: Broker>(broker: &B, d: &Definition) -> Result<(), ServiceError> {
    let mut wanted: Vec<(Topic, u32)> = Vec::new();
    for c in &d.consumers {
        wanted.push((c.topic.clone(), c.partitions));
        wanted.push((c.dead_letter(), 1));
    }
    for p in &d.producers {
        wanted.push((p.topic.clone(), p.partitions));
    }
    if let Some(t) = &d.config_topic {
        wanted.push((t.clone(), 1));
    }
    for (topic, partitions) in wanted {
        ensure_topic(broker, &topic, partitions).await?;
    }
    Ok(())
}

/// Creates `topic` unless it exists.
pub(crate) async fn ensure_topic<B: Broker>(
    broker: &B,
    topic: &Topic,
    partitions: u32,
) -> Result<(), ServiceError> {
    match broker.create_topic(topic, partitions).await {
        Ok(()) | Err(BrokerError::TopicExists { .. }) => Ok(()),
        Err(e) => Err(ServiceError::broker(format!("creating topic `{topic}`"), e)),
    }
}

/// The `weir_service_info` gauge: 1, labelled with the parameters.
fn record_info(d: &Definition, backend: &'static str) {
    let mut labels = vec![
        metrics::Label::new("service", d.id.clone()),
        metrics::Label::new("backend", backend),
        metrics::Label::new("encoding", d.encoding.name()),
    ];
    for (k, v) in &d.parameters {
        let name: String = k
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        labels.push(metrics::Label::new(format!("param_{name}"), v.clone()));
    }
    metrics::gauge!(crate::metrics::SERVICE_INFO, labels).set(1.0);
}
