//! Produce orders to a 4-partition topic on the embedded memory broker, read
//! them with a consumer group of two members, commit, and show that a
//! restarted member resumes from the committed offsets.
//!
//! Run: `cargo run --example quickstart`

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use weir::memory::MemoryBroker;
use weir::prelude::*;

#[derive(Serialize, Deserialize, Debug)]
struct Order {
    id: u32,
    customer: String,
    cents: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let broker = MemoryBroker::new();
    let topic = Topic::new("orders");
    broker.create_topic(&topic, 4)?; // the memory broker creates topics synchronously

    // Produce 20 orders; the customer is the key, so one customer's orders stay in order on one partition.
    let producer = broker.producer().await?;
    for id in 0..20u32 {
        let order = Order {
            id,
            customer: format!("customer-{}", id % 5),
            cents: 100 * u64::from(id + 1),
        };
        let payload = Payload::new(MsgPack.encode(&order)?).with_key(order.customer.clone());
        let stored = producer.produce_to(&topic, payload).await?;
        println!(
            "produced order {id:>2} -> {} offset {}",
            stored.partition, stored.offset
        );
    }

    // Alice joins the group "billing" alone and owns every partition; once she
    // has read a few orders Bob joins, and the group hands half of them over.
    let mut alice = broker
        .consumer(
            ConsumerConfig::builder("billing")
                .client_id("alice")
                .max_poll_records(3)
                .build()?,
        )
        .await?;
    let mut bob = broker
        .consumer(
            ConsumerConfig::builder("billing")
                .client_id("bob")
                .max_poll_records(3)
                .build()?,
        )
        .await?;
    alice.subscribe(std::slice::from_ref(&topic)).await?;
    let mut bob_joined = false;

    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    let mut seen = 0;
    while seen < 20 {
        if seen >= 6 && !bob_joined {
            println!("bob joins the group");
            bob.subscribe(std::slice::from_ref(&topic)).await?;
            bob_joined = true;
        }
        let members = if bob_joined { 2 } else { 1 };
        for (name, consumer) in [("alice", &mut alice), ("bob", &mut bob)]
            .into_iter()
            .take(members)
        {
            let Ok(event) = tokio::time::timeout(Duration::from_millis(50), consumer.poll()).await
            else {
                continue;
            };
            match event? {
                ConsumerEvent::Assigned(parts) => println!(
                    "{name}: assigned {:?}",
                    parts
                        .iter()
                        .map(|(p, o)| format!("{p} from offset {o}"))
                        .collect::<Vec<_>>()
                ),
                ConsumerEvent::Revoked(parts) => println!(
                    "{name}: revoked {:?}",
                    parts.iter().map(ToString::to_string).collect::<Vec<_>>()
                ),
                ConsumerEvent::Messages(batch) => {
                    let mut commit = CommitRequest::new();
                    for m in batch {
                        let order: Order = MsgPack.decode(&m.payload.value)?;
                        println!(
                            "{name}: {} offset {} -> order {} of {} ({} cents)",
                            m.partition, m.offset, order.id, order.customer, order.cents
                        );
                        *totals.entry(order.customer).or_default() += order.cents;
                        commit.insert(m.partition.clone(), m.next_offset());
                        seen += 1;
                    }
                    consumer.commit(&commit).await?;
                }
            }
        }
    }
    println!("totals per customer: {totals:?}");

    // Both leave; a new member starts from the committed offsets and finds nothing left to read.
    alice.close().await?;
    bob.close().await?;
    let mut carol = broker
        .consumer(
            ConsumerConfig::builder("billing")
                .client_id("carol")
                .build()?,
        )
        .await?;
    carol.subscribe(std::slice::from_ref(&topic)).await?;
    if let ConsumerEvent::Assigned(starts) = carol.poll().await? {
        for (p, offset) in &starts {
            println!("carol: {p} resumes at committed offset {offset}");
        }
    }
    let more = tokio::time::timeout(Duration::from_millis(100), carol.poll()).await;
    println!(
        "carol: new messages after restart: {}",
        if more.is_err() {
            "none, all were committed"
        } else {
            "some"
        }
    );
    Ok(())
}
