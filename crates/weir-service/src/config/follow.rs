//! Reading the configuration topic: first what is there, then each push.
//!
//! This is the one reader in the base that is not a `StreamProcessor`: it
//! never commits (every start reads the topic again from its beginning, in
//! a consumer group of its own), so it needs none of the processor's commit
//! bookkeeping, and it must know when it has caught up with the topic, which
//! only the consumer itself can tell (its lag).

use std::time::Duration;

use weir_core::{
    Broker, BrokerValue, Consumer, ConsumerConfig, ConsumerEvent, OffsetReset, Partition, Payload,
    Topic,
};
use weir_strategies::Outage;

use super::view::Applied;
use super::{ConfigHandler, ConfigPush, ConfigView};
use crate::{Encoding, ServiceError};

/// How long the initial read may wait for the group to assign the topic.
const ASSIGN_WITHIN: Duration = Duration::from_secs(60);

/// A consumer of the configuration topic that has caught up with it.
pub(crate) struct Follower<C> {
    consumer: C,
    topic: Topic,
    service: String,
    view: ConfigView,
    handlers: Vec<ConfigHandler>,
}

/// Reads the configuration topic from its beginning until caught up (the
/// consumer's lag is 0, or nothing arrives for `quiet`), applying each push.
pub(crate) async fn fetch<B: Broker>(
    broker: &B,
    topic: &Topic,
    service: &str,
    view: ConfigView,
    handlers: Vec<ConfigHandler>,
    quiet: Duration,
) -> Result<Follower<B::Consumer>, ServiceError> {
    let group = crate::id::unique(&format!("{service}.config"));
    let config = ConsumerConfig::builder(group)
        .offset_reset(OffsetReset::Earliest)
        .build()
        .map_err(|e| ServiceError::broker("configuring the config reader", e))?;
    let mut consumer = broker
        .consumer(config)
        .await
        .map_err(|e| ServiceError::broker(format!("reading config topic `{topic}`"), e))?;
    consumer
        .subscribe(std::slice::from_ref(topic))
        .await
        .map_err(|e| ServiceError::broker(format!("subscribing to config topic `{topic}`"), e))?;
    let mut f = Follower {
        consumer,
        topic: topic.clone(),
        service: service.to_owned(),
        view,
        handlers,
    };
    let started = tokio::time::Instant::now();
    let mut assigned: Vec<Partition> = Vec::new();
    loop {
        let polled = tokio::time::timeout(quiet, f.consumer.poll()).await;
        match polled {
            Err(_) if !assigned.is_empty() => {
                if assigned
                    .iter()
                    .all(|p| f.consumer.lag(p).is_none_or(|l| l == 0))
                {
                    return Ok(f);
                }
            }
            Err(_) => {
                if started.elapsed() > ASSIGN_WITHIN {
                    return Err(ServiceError::broker(
                        format!("reading config topic `{topic}`"),
                        weir_core::BrokerError::Unreachable {
                            endpoint: broker.name().to_owned(),
                            reason: format!("no partition assigned within {ASSIGN_WITHIN:?}"),
                        },
                    ));
                }
            }
            Ok(Err(e)) if e.is_transient() => tokio::time::sleep(Duration::from_millis(100)).await,
            Ok(Err(e)) => {
                return Err(ServiceError::broker(
                    format!("reading config topic `{topic}`"),
                    e,
                ));
            }
            Ok(Ok(ConsumerEvent::Assigned(map))) => assigned = map.into_keys().collect(),
            Ok(Ok(ConsumerEvent::Revoked(gone))) => assigned.retain(|p| !gone.contains(p)),
            Ok(Ok(ConsumerEvent::Messages(batch))) => {
                f.apply_all(batch);
                if !assigned.is_empty() && assigned.iter().all(|p| f.consumer.lag(p) == Some(0)) {
                    return Ok(f);
                }
            }
        }
    }
}

impl<C: Consumer> Follower<C> {
    /// Applies every push that arrives, until `stop` resolves; rides
    /// through broker outages up to `outage_limit`.
    pub(crate) async fn follow(
        mut self,
        stop: impl std::future::Future<Output = ()>,
        outage_limit: Duration,
    ) -> Result<(), ServiceError> {
        tokio::pin!(stop);
        let mut outage = Outage::new();
        loop {
            let polled = tokio::select! {
                () = &mut stop => break,
                p = self.consumer.poll() => p,
            };
            match polled {
                Ok(ConsumerEvent::Messages(batch)) => {
                    outage.recovered();
                    self.apply_all(batch);
                }
                Ok(_) => outage.recovered(),
                Err(e) if e.is_transient() => {
                    match outage.failed(tokio::time::Instant::now(), outage_limit) {
                        Some(wait) => tokio::time::sleep(wait).await,
                        None => {
                            return Err(ServiceError::broker(
                                format!("following config topic `{}`", self.topic),
                                e,
                            ));
                        }
                    }
                }
                Err(e) => {
                    return Err(ServiceError::broker(
                        format!("following config topic `{}`", self.topic),
                        e,
                    ));
                }
            }
        }
        let _ = self.consumer.close().await;
        Ok(())
    }

    fn apply_all(&mut self, batch: Vec<BrokerValue<Payload>>) {
        for m in batch {
            self.apply_one(&m);
        }
    }

    fn apply_one(&mut self, m: &BrokerValue<Payload>) {
        let service = self.service.as_str();
        let push: ConfigPush = match Encoding::Json.decode(&m.payload.value) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(service, partition = %m.partition, offset = m.offset, error = %e,
                    "ignoring a config push that does not decode");
                count_ignored(service, "undecodable");
                return;
            }
        };
        let version = push.version();
        match self.view.apply(push, &self.handlers, service) {
            Applied::Applied => tracing::info!(service, version, "config version in force"),
            Applied::Stale => {
                tracing::info!(service, version, in_force = ?self.view.version(), "ignoring a stale config push");
                count_ignored(service, "stale");
            }
        }
    }
}

fn count_ignored(service: &str, reason: &'static str) {
    metrics::counter!(crate::metrics::CONFIG_IGNORED_TOTAL,
        "service" => service.to_owned(), "reason" => reason)
    .increment(1);
}
