//! Helpers the integration tests share.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use weir_collector::{BoxError, Collector, Context};

/// A log the collectors write `(collector key, payload)` into.
pub type Log = Arc<Mutex<Vec<(String, u32)>>>;

pub fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

pub fn entries(log: &Log) -> Vec<(String, u32)> {
    log.lock().map(|l| l.clone()).unwrap_or_default()
}

/// A collector that logs each payload and returns it tagged with its key.
pub fn logging(key: &str, topics: &[&str], log: &Log) -> Collector<u32, String> {
    let log = Arc::clone(log);
    Collector::builder(key.to_owned())
        .topics(topics.iter().copied())
        .processor(move |n: u32, ctx: Context<()>| {
            let log = Arc::clone(&log);
            async move {
                log.lock()
                    .map_err(|_| "log poisoned")?
                    .push((ctx.key().to_owned(), n));
                Ok::<_, BoxError>(format!("{}:{n}", ctx.key()))
            }
        })
}

/// Yields to the runtime until `condition` holds; panics if it never does.
pub async fn until(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..10_000 {
        if condition() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("never happened: {what}");
}
