//! A handler registered for one configuration key.

use std::sync::Arc;

use serde::de::DeserializeOwned;

type Apply = dyn Fn(Option<&serde_json::Value>, u64) -> Result<(), String> + Send + Sync;

/// Called with a key's value (decoded as the handler's type) whenever a
/// new version changes it, and with the first version the service applies.
#[derive(Clone)]
pub(crate) struct ConfigHandler {
    pub(crate) key: String,
    apply: Arc<Apply>,
}

impl ConfigHandler {
    pub(crate) fn new<T, F>(key: String, handler: F) -> Self
    where
        T: DeserializeOwned,
        F: Fn(Option<T>, u64) + Send + Sync + 'static,
    {
        let type_name = std::any::type_name::<T>();
        let apply = move |value: Option<&serde_json::Value>, version: u64| {
            let typed = value
                .map(|v| T::deserialize(v))
                .transpose()
                .map_err(|e| format!("the value is not a {type_name}: {e}"))?;
            handler(typed, version);
            Ok(())
        };
        ConfigHandler {
            key,
            apply: Arc::new(apply),
        }
    }

    pub(crate) fn call(
        &self,
        value: Option<&serde_json::Value>,
        version: u64,
    ) -> Result<(), String> {
        (self.apply)(value, version)
    }
}
