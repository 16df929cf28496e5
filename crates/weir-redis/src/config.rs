//! How to reach Redis and how the backend behaves.

use std::time::Duration;

use weir_core::BrokerError;

use crate::tls::TlsSettings;

/// Settings of a [`RedisBroker`](crate::RedisBroker), made with
/// [`RedisConfig::builder`]: like every Weir config, the builder's setters
/// and the config's getters share the settings' names, and
/// [`build`](RedisConfigBuilder::build) checks them all.
///
/// ```
/// use std::time::Duration;
/// use weir_redis::RedisConfig;
/// let config = RedisConfig::builder("redis://app:secret@127.0.0.1:6379/2")
///     .key_prefix("billing")
///     .session_timeout(Duration::from_secs(10))
///     .max_payload_bytes(1 << 20)
///     .build()
///     .unwrap();
/// assert_eq!(config.key_prefix(), "billing");
/// assert_eq!(config.max_payload_bytes(), 1 << 20);
/// ```
///
/// Its `Debug` shows the URL with the user and password as `***`.
#[derive(Clone)]
pub struct RedisConfig {
    pub(crate) url: String,
    pub(crate) key_prefix: String,
    pub(crate) session_timeout: Duration,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) block_time: Duration,
    pub(crate) max_payload_bytes: usize,
    pub(crate) reconnect_timeout: Duration,
    pub(crate) max_stream_length: Option<u64>,
    pub(crate) tls: TlsSettings,
}

impl RedisConfig {
    /// A builder for the server at `url`: `redis://[user[:password]@]host[:port][/db]`,
    /// or `rediss://...` with the `tls` feature; or for a Redis Cluster,
    /// `redis+cluster://[user[:password]@]host:port,host:port,...` naming
    /// some of its nodes (the client learns the rest from them), or
    /// `rediss+cluster://...` with the `tls` feature.
    pub fn builder(url: impl Into<String>) -> RedisConfigBuilder {
        RedisConfigBuilder {
            config: RedisConfig {
                url: url.into(),
                key_prefix: "weir".to_owned(),
                session_timeout: Duration::from_secs(10),
                heartbeat_interval: Duration::from_secs(2),
                block_time: Duration::from_millis(100),
                max_payload_bytes: 16 << 20,
                reconnect_timeout: Duration::from_secs(15),
                max_stream_length: None,
                tls: TlsSettings::default(),
            },
        }
    }

    /// The server URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL without its user and password, for messages.
    pub fn endpoint(&self) -> String {
        self.url_with_credentials("")
    }

    /// The URL with its user and password (if any) shown as `***`.
    pub fn redacted_url(&self) -> String {
        self.url_with_credentials("***@")
    }

    /// The URL with `replacement` where its `user:password@` part was.
    fn url_with_credentials(&self, replacement: &str) -> String {
        let Some(scheme) = self.url.find("://").map(|i| i + 3) else {
            return self.url.clone();
        };
        // The credentials end at the last `@` before the path.
        let authority_end = self.url[scheme..]
            .find(['/', '?', '#'])
            .map_or(self.url.len(), |i| scheme + i);
        match self.url[scheme..authority_end].rfind('@') {
            Some(at) => format!(
                "{}{replacement}{}",
                &self.url[..scheme],
                &self.url[scheme + at + 1..]
            ),
            None => self.url.clone(),
        }
    }

    /// The prefix of every key this backend writes.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// How long a silent group member keeps its membership and partitions.
    pub fn session_timeout(&self) -> Duration {
        self.session_timeout
    }

    /// How often a polling member renews its membership and leases.
    pub fn heartbeat_interval(&self) -> Duration {
        self.heartbeat_interval
    }

    /// How long one blocking read waits on the server.
    pub fn block_time(&self) -> Duration {
        self.block_time
    }

    /// The largest payload (value, key and headers) accepted, in bytes.
    pub fn max_payload_bytes(&self) -> usize {
        self.max_payload_bytes
    }

    /// How long calls retry while the server is unreachable.
    pub fn reconnect_timeout(&self) -> Duration {
        self.reconnect_timeout
    }

    /// The newest messages each partition's stream keeps at least, if trimmed.
    pub fn max_stream_length(&self) -> Option<u64> {
        self.max_stream_length
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.redacted_url())
            .field("key_prefix", &self.key_prefix)
            .field("session_timeout", &self.session_timeout)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("block_time", &self.block_time)
            .field("max_payload_bytes", &self.max_payload_bytes)
            .field("reconnect_timeout", &self.reconnect_timeout)
            .field("max_stream_length", &self.max_stream_length)
            .field("tls", &self.tls)
            .finish()
    }
}

/// Builds a [`RedisConfig`].
#[derive(Clone, Debug)]
pub struct RedisConfigBuilder {
    config: RedisConfig,
}

impl RedisConfigBuilder {
    /// Prefix of every key (default `weir`): apps sharing a server each use their own.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.config.key_prefix = prefix.into();
        self
    }

    /// How long a member that stopped polling (or crashed) keeps its
    /// membership and partition leases, and so how long its partitions wait
    /// before moving (default 10 s).
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.config.session_timeout = timeout;
        self
    }

    /// How often a polling member renews its membership and leases (default 2 s,
    /// at most a third of the session timeout).
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.config.heartbeat_interval = interval;
        self
    }

    /// How long one blocking read waits on the server (default 100 ms); it
    /// bounds how late a member notices a rebalance.
    pub fn block_time(mut self, block: Duration) -> Self {
        self.config.block_time = block;
        self
    }

    /// The largest payload (value, key and headers) accepted, in bytes (default 16 MiB).
    pub fn max_payload_bytes(mut self, limit: usize) -> Self {
        self.config.max_payload_bytes = limit;
        self
    }

    /// How long calls retry while the server is unreachable before failing
    /// with [`BrokerError::Unreachable`] (default 15 s).
    pub fn reconnect_timeout(mut self, timeout: Duration) -> Self {
        self.config.reconnect_timeout = timeout;
        self
    }

    /// Trims each partition's stream as it grows, keeping at least its newest
    /// `messages` (whole entries go, so a little more stays; default: keep all).
    pub fn max_stream_length(mut self, messages: u64) -> Self {
        self.config.max_stream_length = Some(messages);
        self
    }

    /// Trust only this CA certificate (PEM) when verifying a `rediss://`
    /// server, instead of the machine's trusted CAs: for servers with a
    /// private CA.
    #[cfg(feature = "tls")]
    pub fn tls_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.config.tls.root_certificate = Some(pem.into());
        self
    }

    /// Present this client certificate and private key (both PEM) to a
    /// `rediss://` server that requires clients to authenticate (mutual TLS).
    #[cfg(feature = "tls")]
    pub fn tls_client_identity(
        mut self,
        certificate_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.config.tls.client_identity = Some((certificate_pem.into(), key_pem.into()));
        self
    }

    /// The settings; fails on a URL that is not `redis://` / `rediss://` or on
    /// inconsistent timeouts.
    pub fn build(self) -> Result<RedisConfig, BrokerError> {
        let c = self.config;
        let cluster = crate::client::cluster_nodes(&c.url);
        if !(c.url.starts_with("redis://") || c.url.starts_with("rediss://") || cluster.is_some()) {
            return Err(BrokerError::InvalidConfig(format!(
                "redis url `{}` must start with redis://, rediss://, redis+cluster:// or rediss+cluster://",
                c.endpoint()
            )));
        }
        if cluster.is_some_and(|nodes| nodes.is_empty()) {
            return Err(BrokerError::InvalidConfig(format!(
                "redis cluster url `{}` names no node",
                c.endpoint()
            )));
        }
        let tls = c.url.starts_with("rediss://") || c.url.starts_with("rediss+cluster://");
        if tls && !cfg!(feature = "tls") {
            return Err(BrokerError::InvalidConfig(format!(
                "redis url `{}` needs TLS: enable the `tls` feature of weir-redis",
                c.endpoint()
            )));
        }
        if c.tls.is_set() && !tls {
            return Err(BrokerError::InvalidConfig(format!(
                "redis url `{}` has TLS settings but is not a rediss:// url",
                c.endpoint()
            )));
        }
        if c.key_prefix.is_empty() {
            return Err(BrokerError::InvalidConfig(
                "the redis key prefix must not be empty".to_owned(),
            ));
        }
        if c.key_prefix.contains(['{', '}']) {
            return Err(BrokerError::InvalidConfig(format!(
                "the redis key prefix `{}` must not contain `{{` or `}}` (they mark Redis Cluster hash tags)",
                c.key_prefix
            )));
        }
        if c.heartbeat_interval.is_zero() || c.heartbeat_interval * 3 > c.session_timeout {
            return Err(BrokerError::InvalidConfig(format!(
                "heartbeat interval {:?} must be positive and at most a third of the session timeout {:?}",
                c.heartbeat_interval, c.session_timeout
            )));
        }
        if c.block_time.is_zero() || c.block_time >= c.session_timeout {
            return Err(BrokerError::InvalidConfig(format!(
                "block time {:?} must be positive and below the session timeout {:?}",
                c.block_time, c.session_timeout
            )));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_hides_the_password() {
        let c = RedisConfig::builder("redis://u:pw@127.0.0.1:7000/1")
            .build()
            .expect("a valid config");
        assert_eq!(c.endpoint(), "redis://127.0.0.1:7000/1");
        assert_eq!(c.redacted_url(), "redis://***@127.0.0.1:7000/1");
        let plain = RedisConfig::builder("redis://127.0.0.1:7000/1")
            .build()
            .expect("a valid config");
        assert_eq!(plain.redacted_url(), "redis://127.0.0.1:7000/1");
        // An `@` in the password (not percent-encoded) hides all before it.
        let at = RedisConfig::builder("redis://u:p@ss@h:1?x=@")
            .build()
            .expect("a valid config");
        assert_eq!(at.endpoint(), "redis://h:1?x=@");
        assert_eq!(at.redacted_url(), "redis://***@h:1?x=@");
    }

    #[test]
    fn cluster_urls_name_seed_nodes() {
        let c = RedisConfig::builder("redis+cluster://u:pw@127.0.0.1:7000,127.0.0.1:7001")
            .build()
            .expect("a valid config");
        assert_eq!(
            c.endpoint(),
            "redis+cluster://127.0.0.1:7000,127.0.0.1:7001"
        );
        assert!(RedisConfig::builder("redis+cluster://").build().is_err());
        let braces = RedisConfig::builder("redis://x").key_prefix("a{b}").build();
        assert!(matches!(braces, Err(BrokerError::InvalidConfig(m)) if m.contains("hash tags")));
    }

    #[test]
    fn tls_urls_need_the_tls_feature() {
        let tls = RedisConfig::builder("rediss://127.0.0.1:6380").build();
        if cfg!(feature = "tls") {
            assert!(tls.is_ok(), "{tls:?}");
        } else {
            assert!(
                matches!(tls, Err(BrokerError::InvalidConfig(m)) if m.contains("`tls` feature"))
            );
        }
    }

    #[test]
    fn bad_settings_are_clear_errors() {
        assert!(RedisConfig::builder("http://x").build().is_err());
        assert!(
            RedisConfig::builder("redis://x")
                .key_prefix("")
                .build()
                .is_err()
        );
        let slow = RedisConfig::builder("redis://x")
            .session_timeout(Duration::from_secs(1))
            .heartbeat_interval(Duration::from_secs(1))
            .build();
        assert!(matches!(slow, Err(BrokerError::InvalidConfig(m)) if m.contains("heartbeat")));
    }
}
