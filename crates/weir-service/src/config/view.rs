//! The configuration in force, as handlers read it.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use serde::de::DeserializeOwned;
use tokio::sync::watch;

use super::{ConfigHandler, ConfigPush};
use crate::ServiceError;

/// The configuration in force: its version and values. Cheap to clone;
/// every clone sees the newest version.
#[derive(Clone, Debug)]
pub struct ConfigView {
    values: Arc<RwLock<BTreeMap<String, serde_json::Value>>>,
    version: watch::Sender<Option<u64>>,
}

impl Default for ConfigView {
    fn default() -> Self {
        ConfigView {
            values: Arc::default(),
            version: watch::Sender::new(None),
        }
    }
}

/// What applying a push did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    /// It is in force now.
    Applied,
    /// Its version is not above the one in force: ignored.
    Stale,
}

impl ConfigView {
    /// The version in force (`None` before the first push).
    pub fn version(&self) -> Option<u64> {
        *self.version.borrow()
    }

    /// The value of `key` in force, decoded as `T` (`None` when unset).
    ///
    /// # Errors
    ///
    /// [`ServiceError::InvalidConfig`] when the value is not a `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ServiceError> {
        let values = self.values.read().unwrap_or_else(PoisonError::into_inner);
        values
            .get(key)
            .map(|v| T::deserialize(v))
            .transpose()
            .map_err(|e| {
                ServiceError::InvalidConfig(format!(
                    "config key `{key}` is not a {}: {e}",
                    std::any::type_name::<T>()
                ))
            })
    }

    /// Resolves once the version in force is at least `version`.
    pub async fn wait_for(&self, version: u64) {
        let mut rx = self.version.subscribe();
        let _ = rx.wait_for(|v| v.is_some_and(|v| v >= version)).await;
    }

    /// Applies `push` if newer than what is in force, calling the handlers
    /// of the keys it changes (all of them on the first push applied).
    pub(crate) fn apply(
        &self,
        push: ConfigPush,
        handlers: &[ConfigHandler],
        service: &str,
    ) -> Applied {
        let version = push.version();
        let before = self.version();
        if before.is_some_and(|v| version <= v) {
            return Applied::Stale;
        }
        let new = push.into_values();
        let old = {
            let mut values = self.values.write().unwrap_or_else(PoisonError::into_inner);
            std::mem::replace(&mut *values, new.clone())
        };
        self.version.send_replace(Some(version));
        metrics::gauge!(crate::metrics::CONFIG_VERSION, "service" => service.to_owned())
            .set(version as f64);
        for h in handlers {
            let now = new.get(&h.key);
            if before.is_some() && old.get(&h.key) == now {
                continue;
            }
            if let Err(reason) = h.call(now, version) {
                tracing::error!(service, key = %h.key, version, %reason, "a config handler refused its value");
            }
        }
        Applied::Applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn pushes_apply_in_version_order_and_stale_ones_are_ignored() {
        let view = ConfigView::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let handlers = [ConfigHandler::new(
            "limit".into(),
            move |v: Option<u32>, version| {
                s.lock().unwrap().push((v, version));
            },
        )];
        let push = |v: u64, limit: u32| ConfigPush::new(v).set("limit", &limit).unwrap();
        assert_eq!(view.apply(push(1, 10), &handlers, "t"), Applied::Applied);
        assert_eq!(view.apply(push(3, 30), &handlers, "t"), Applied::Applied);
        assert_eq!(view.apply(push(2, 20), &handlers, "t"), Applied::Stale);
        assert_eq!(view.apply(push(3, 99), &handlers, "t"), Applied::Stale);
        assert_eq!(view.apply(push(4, 30), &handlers, "t"), Applied::Applied);
        assert_eq!(view.version(), Some(4));
        assert_eq!(view.get::<u32>("limit").unwrap(), Some(30));
        assert!(
            view.get::<String>("limit").is_err(),
            "a wrong type is an error"
        );
        assert_eq!(
            *seen.lock().unwrap(),
            [(Some(10), 1), (Some(30), 3)],
            "version 4 left the value alone"
        );
    }
}
