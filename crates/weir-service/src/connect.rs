//! The broker a URL names, chosen at run time.
//!
//! A service is written against the `Broker` trait; which backend runs it
//! is the command line's choice. The base compiles in the backends its
//! features name (`memory`, `redis`, `redis-tls`, `kafka`) and dispatches
//! on the URL to code generic over the broker, through [`OnBroker`]: no
//! enum of brokers, no boxed trait objects on the hot path.

use std::future::Future;
use std::time::Duration;

use weir_core::Broker;

use crate::ServiceError;

/// What to do once the broker is known: a generic async function, as a trait.
pub trait OnBroker {
    /// What it returns.
    type Output;

    /// Runs with the broker.
    fn on<B: Broker>(self, broker: B) -> impl Future<Output = Self::Output> + Send;
}

/// Which backend a URL names.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrokerUrl {
    /// `memory://`: the embedded broker of this process.
    Memory,
    /// `redis://…`, `rediss://…` or `redis+cluster://…`.
    Redis(String),
    /// `kafka://host:port,…`, or bare `host:port,…` bootstrap servers.
    Kafka(String),
}

impl BrokerUrl {
    /// Reads `url`.
    ///
    /// # Errors
    ///
    /// [`ServiceError::BrokerUrl`] for an unknown scheme or an empty value.
    pub fn parse(url: &str) -> Result<Self, ServiceError> {
        let bad = |reason: &str| ServiceError::BrokerUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let url = url.trim();
        if url.is_empty() {
            return Err(bad(
                "empty: use memory://, redis://host:port or kafka bootstrap servers",
            ));
        }
        if url == "memory://" || url == "memory" {
            return Ok(BrokerUrl::Memory);
        }
        if url.starts_with("redis://")
            || url.starts_with("rediss://")
            || url.starts_with("redis+cluster://")
        {
            return Ok(BrokerUrl::Redis(url.to_owned()));
        }
        if let Some(rest) = url.strip_prefix("kafka://") {
            return Ok(BrokerUrl::Kafka(rest.to_owned()));
        }
        if url.contains("://") {
            return Err(bad(
                "unknown scheme: use memory://, redis://, rediss://, redis+cluster:// or kafka://",
            ));
        }
        if url.split(',').all(|s| {
            s.rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
        }) {
            return Ok(BrokerUrl::Kafka(url.to_owned()));
        }
        Err(bad("not a URL nor host:port bootstrap servers"))
    }
}

/// Connects to the broker `url` names, checks it answers (within about
/// 10 s), and runs `then` with it.
///
/// # Errors
///
/// [`ServiceError::BrokerUrl`] for a URL the build cannot serve,
/// [`ServiceError::Broker`] when the broker does not answer.
#[allow(unreachable_code, unused_variables)]
pub async fn with_broker<V: OnBroker>(url: &str, then: V) -> Result<V::Output, ServiceError> {
    let left_out = |feature: &str| ServiceError::BrokerUrl {
        url: url.to_owned(),
        reason: format!("this program was built without the `{feature}` feature"),
    };
    match BrokerUrl::parse(url)? {
        BrokerUrl::Memory => {
            #[cfg(feature = "memory")]
            return Ok(then.on(weir_memory::MemoryBroker::new()).await);
            Err(left_out("memory"))
        }
        BrokerUrl::Redis(u) => {
            #[cfg(feature = "redis")]
            {
                let broker = weir_redis::RedisBroker::connect_url(&u)
                    .await
                    .map_err(|e| {
                        ServiceError::broker(format!("connecting to {}", redact(&u)), e)
                    })?;
                return Ok(then.on(broker).await);
            }
            Err(left_out("redis"))
        }
        BrokerUrl::Kafka(bootstrap) => {
            #[cfg(feature = "kafka")]
            {
                let config = weir_kafka::KafkaConfig::builder(bootstrap.clone())
                    .build()
                    .map_err(|e| {
                        ServiceError::broker(format!("configuring kafka at {bootstrap}"), e)
                    })?;
                let broker = weir_kafka::KafkaBroker::new(config);
                check_answers(&broker, &bootstrap).await?;
                return Ok(then.on(broker).await);
            }
            Err(left_out("kafka"))
        }
    }
}

/// Lists topics once, within 10 s, to tell an unreachable broker early.
#[allow(dead_code)]
async fn check_answers<B: Broker>(broker: &B, endpoint: &str) -> Result<(), ServiceError> {
    use weir_core::Admin;
    let what = || format!("connecting to {endpoint}");
    let listed = tokio::time::timeout(Duration::from_secs(10), async {
        broker.admin().await?.list_topics().await
    })
    .await;
    match listed {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(ServiceError::broker(what(), e)),
        Err(_) => Err(ServiceError::broker(
            what(),
            weir_core::BrokerError::Unreachable {
                endpoint: endpoint.to_owned(),
                reason: "no answer within 10 s".into(),
            },
        )),
    }
}

/// The URL without a password, for messages and metrics.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend() {
        assert_eq!(BrokerUrl::parse("memory://").unwrap(), BrokerUrl::Memory);
        assert_eq!(
            BrokerUrl::parse("redis://127.0.0.1:6379").unwrap(),
            BrokerUrl::Redis("redis://127.0.0.1:6379".into())
        );
        assert_eq!(
            BrokerUrl::parse("127.0.0.1:9092,127.0.0.1:9093").unwrap(),
            BrokerUrl::Kafka("127.0.0.1:9092,127.0.0.1:9093".into())
        );
        assert_eq!(
            BrokerUrl::parse("kafka://k1:9092").unwrap(),
            BrokerUrl::Kafka("k1:9092".into())
        );
        let e = BrokerUrl::parse("amqp://x").unwrap_err().to_string();
        assert!(e.contains("unknown scheme"), "{e}");
        assert!(BrokerUrl::parse("nonsense").is_err());
        assert!(BrokerUrl::parse("").is_err());
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redact("redis://:hunter2@db:6379/0"),
            "redis://***@db:6379/0"
        );
        assert_eq!(redact("redis://db:6379"), "redis://db:6379");
    }
}
