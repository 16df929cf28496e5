//! A stream-processing pipeline on the embedded memory broker: decode
//! orders, drop the small ones, total the rest per batch, and send each
//! total to another topic; then read the totals back.
//!
//! Run: `cargo run --example pipeline --features strategies`

use std::time::Duration;

use serde::{Deserialize, Serialize};
use weir::memory::MemoryBroker;
use weir::prelude::*;
use weir::strategies::{Pipeline, StrategyContext, StreamProcessor};

#[derive(Serialize, Deserialize, Debug)]
struct Order {
    id: u32,
    cents: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let broker = MemoryBroker::new();
    let (orders, totals) = (Topic::new("orders"), Topic::new("totals"));
    broker.create_topic(&orders, 2)?;
    broker.create_topic(&totals, 1)?;

    let producer = broker.producer().await?;
    for id in 0..100u32 {
        let order = Order {
            id,
            cents: u64::from(id % 10) * 100,
        };
        let payload = Payload::new(MsgPack.encode(&order)?).with_key(id.to_string());
        producer.produce(orders.clone().into(), payload).await?;
    }

    // The steps in the order an order takes them.
    let out = producer.clone();
    let totals_topic = totals.clone();
    let consumer = broker.consumer(ConsumerConfig::new("order-totals")).await?;
    let processor = StreamProcessor::builder(consumer, [orders], move |_: &StrategyContext| {
        Pipeline::new()
            .decode::<Order, _>(MsgPack)
            .filter(|o: &Order| o.cents >= 500)
            .reduce(|| 0u64, |total, o: Order| total + o.cents)
            .max_messages(10)
            .max_time(Duration::from_millis(50))
            .map(|total| Ok(Payload::new(total.to_string())))
            .produce(out.clone(), totals_topic.clone())
            .commit()
    })
    .build();
    let stop = processor.shutdown_handle();
    let running = tokio::spawn(processor.run());

    // Read the totals as they arrive: 50 orders of 500 cents or more.
    let mut reader = broker.consumer(ConsumerConfig::new("reader")).await?;
    reader.subscribe(&[totals]).await?;
    let mut sum = 0u64;
    while sum < 50 * 700 {
        if let ConsumerEvent::Messages(batch) = reader.poll().await? {
            for m in batch {
                let total: u64 = std::str::from_utf8(&m.payload.value)?.parse()?;
                println!("total from {} offset {}: {total}", m.partition, m.offset);
                sum += total;
            }
        }
    }
    println!("all orders counted: {sum} cents");
    stop.shutdown();
    let report = running.await??;
    println!("processor stopped: {report:?}");
    Ok(())
}
