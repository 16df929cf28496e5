//! Two collectors behind one queue: readings go to a store by topic, alerts
//! by key; every send gets its results back.
//!
//! `cargo run -p weir-collector --example sensors`

use std::time::Duration;

use weir_collector::{BoxError, Collector, CollectorQueue, Context, Event, RetryPolicy};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = Collector::builder("store")
        .topics(["sensor-data"])
        .timeout(Duration::from_secs(1))
        .retry(RetryPolicy::exponential(3, Duration::from_millis(50)))
        .processor(|celsius: f64, _: Context<()>| async move {
            Ok::<_, BoxError>(format!("stored {celsius}"))
        });
    let alert = Collector::builder("alert").processor(|celsius: f64, _: Context<()>| async move {
        if celsius > 90.0 {
            Ok(format!("alert: {celsius}"))
        } else {
            Err(BoxError::from(format!("{celsius} is no reason to alert")))
        }
    });
    let queue = CollectorQueue::builder()
        .collectors([store, alert])
        .consumers(1, 8)
        .build()?;

    let running = queue.start().await?;
    let publisher = running.publisher();
    for event in [
        Event::new(21.5).to_topics(["sensor-data"]),
        Event::new(95.0).to_keys(["alert"]),
        Event::new(20.0),                    // broadcast: both collectors
        Event::new(1.0).to_keys(["nobody"]), // delivered nowhere
    ] {
        let results = publisher.send(event).await?.await;
        if !results.is_delivered() {
            println!("delivered nowhere, unmatched {:?}", results.unmatched());
        }
        for (key, result) in results.keyed() {
            match result {
                Ok(value) => println!("{key}: {value}"),
                Err(error) => println!("{key}: {error}"),
            }
        }
    }
    let report = running.shutdown().await;
    println!(
        "completed {} events, clean shutdown: {}",
        report.completed,
        report.is_clean()
    );
    Ok(())
}
