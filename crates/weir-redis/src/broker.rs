//! The broker handle: one connection shared by producers and admins.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use weir_core::{Broker, BrokerError, ConsumerConfig, Partitioner, Topic};

use crate::client::Client;
use crate::connection::{Conn, to_broker_error};
use crate::keys::Keys;
use crate::{RedisAdmin, RedisConfig, RedisConsumer, RedisProducer};

/// Weir on a Redis server: topics as sets of streams, consumer groups with
/// leased partitions. Clones share one connection.
///
/// ```no_run
/// # async fn demo() -> Result<(), weir_core::BrokerError> {
/// use weir_redis::{RedisBroker, RedisConfig};
/// let broker = RedisBroker::connect(RedisConfig::builder("redis://127.0.0.1:6379").build()?).await?;
/// # let _ = broker; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct RedisBroker {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) client: Client,
    pub(crate) conn: Conn,
    pub(crate) config: RedisConfig,
    pub(crate) keys: Keys,
    counts: Mutex<HashMap<Topic, u32>>,
    /// Picks partitions for messages sent to a whole topic.
    pub(crate) partitioner: Partitioner,
    /// Who waits for results, on one pub/sub connection.
    pub(crate) waiters: crate::capability::Waiters,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the client: its connection info holds the password.
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

impl RedisBroker {
    /// Connects to the server (retrying for a bounded time) and checks it answers.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use weir_core::BrokerExt;
    /// use weir_redis::{RedisBroker, RedisConfig};
    ///
    /// # async fn demo() -> Result<(), weir_core::BrokerError> {
    /// let config = RedisConfig::builder("redis://127.0.0.1:6379").key_prefix("shop").build()?;
    /// let broker = RedisBroker::connect(config).await?;
    /// broker.create_topic("orders", 4).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`BrokerError::Unreachable`] when the server does not answer in time,
    /// [`BrokerError::Unauthorized`] when it refuses the credentials,
    /// [`BrokerError::InvalidConfig`] for a URL it cannot use.
    pub async fn connect(config: RedisConfig) -> Result<Self, BrokerError> {
        let client = open(&config)?;
        let conn = Conn::connect(&client, &config, Duration::from_secs(10)).await?;
        let ping: String = conn.query(&redis::cmd("PING")).await?;
        if ping != "PONG" {
            return Err(to_broker_error(
                conn.endpoint(),
                redis::RedisError::from((redis::ErrorKind::Client, "unexpected reply to PING")),
            ));
        }
        Ok(RedisBroker::from_parts(client, conn, config))
    }

    /// A handle that connects on first use: no I/O and no runtime needed now
    /// (an unreachable server shows in the first call instead).
    pub fn connect_lazy(config: RedisConfig) -> Result<Self, BrokerError> {
        let client = open(&config)?;
        let conn = Conn::lazy(&client, &config, Duration::from_secs(10));
        Ok(RedisBroker::from_parts(client, conn, config))
    }

    fn from_parts(client: Client, conn: Conn, config: RedisConfig) -> Self {
        let keys = Keys::new(&config.key_prefix);
        RedisBroker {
            shared: Arc::new(Shared {
                client,
                conn,
                config,
                keys,
                counts: Mutex::new(HashMap::new()),
                partitioner: Partitioner::new(),
                waiters: Default::default(),
            }),
        }
    }

    /// Connects to `url` with default settings.
    pub async fn connect_url(url: &str) -> Result<Self, BrokerError> {
        RedisBroker::connect(RedisConfig::builder(url).build()?).await
    }

    /// The settings in use.
    pub fn config(&self) -> &RedisConfig {
        &self.shared.config
    }
}

impl Shared {
    /// A topic's partition count (cached; `UnknownTopic` if it does not exist).
    pub(crate) async fn partition_count(&self, topic: &Topic) -> Result<u32, BrokerError> {
        if let Some(n) = self.lock_counts().get(topic) {
            return Ok(*n);
        }
        let n: Option<u32> = self
            .conn
            .query(
                redis::cmd("HGET")
                    .arg(self.keys.meta(topic))
                    .arg("partitions"),
            )
            .await?;
        let n = n.ok_or_else(|| BrokerError::UnknownTopic {
            topic: topic.clone(),
        })?;
        self.lock_counts().insert(topic.clone(), n);
        Ok(n)
    }

    /// Drops a cached partition count (the topic was deleted or recreated).
    pub(crate) fn forget_topic(&self, topic: &Topic) {
        self.lock_counts().remove(topic);
    }

    fn lock_counts(&self) -> std::sync::MutexGuard<'_, HashMap<Topic, u32>> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Broker for RedisBroker {
    type Producer = RedisProducer;
    type Consumer = RedisConsumer;
    type Admin = RedisAdmin;

    fn name(&self) -> &'static str {
        "redis"
    }

    async fn producer(&self) -> Result<RedisProducer, BrokerError> {
        Ok(RedisProducer::new(Arc::clone(&self.shared)))
    }

    async fn consumer(&self, config: ConsumerConfig) -> Result<RedisConsumer, BrokerError> {
        Ok(RedisConsumer::new(Arc::clone(&self.shared), config))
    }

    async fn admin(&self) -> Result<RedisAdmin, BrokerError> {
        Ok(RedisAdmin::new(Arc::clone(&self.shared)))
    }
}

fn open(config: &RedisConfig) -> Result<Client, BrokerError> {
    Client::open(config)
}

/// A per-process counter mixed into member ids.
pub(crate) fn next_salt() -> u16 {
    static SALT: AtomicU64 = AtomicU64::new(0);
    SALT.fetch_add(1, Ordering::Relaxed) as u16
}
