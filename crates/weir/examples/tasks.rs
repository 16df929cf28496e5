//! Jobs on the memory broker: enqueue a few, run a worker, print the
//! results and the task events as they happen.
//!
//! `cargo run -p weir --example tasks --features tasks`

use std::time::Duration;

use weir::memory::MemoryBroker;
use weir::tasks::{
    Context, EventFilter, Job, Priority, RetryPolicy, Router, TaskError, Tasks, Worker,
};

#[tokio::main]
async fn main() -> Result<(), TaskError> {
    let tasks = Tasks::new(MemoryBroker::new());

    let mut router = Router::new();
    router
        .actor("add", |(a, b): (i64, i64), _ctx: Context| async move {
            Ok::<_, String>(a + b)
        })
        .doc("Adds two numbers");
    router
        .actor("flaky", |(): (), ctx: Context| async move {
            if ctx.attempt() < 2 {
                Err(format!("attempt {} failed", ctx.attempt()))
            } else {
                Ok(ctx.attempt())
            }
        })
        .retries(3)
        .retry_policy(RetryPolicy::fixed(Duration::from_millis(200)));
    router.blocking_actor("checksum", |data: Vec<u8>, _ctx: Context| {
        Ok::<_, String>(data.iter().map(|b| u64::from(*b)).sum::<u64>())
    });
    for actor in router.catalogue().iter() {
        println!(
            "actor {:<9} queue {:<8} {:?}",
            actor.name, actor.queue, actor.mode
        );
    }

    // Watch every event, printed as it comes.
    let mut events = tasks.subscribe(EventFilter::new()).await?;
    let printer = tokio::spawn(async move {
        while let Ok(e) = events.next().await {
            println!("  event {:<7} {} {} ({})", e.kind, e.actor, e.id, e.state);
        }
    });

    let worker = Worker::builder(&tasks)
        .router(router)
        .concurrency(4)
        .messages_limit(4)
        .build();
    tasks.queue("default").declare().await?;
    let sum = tasks
        .enqueue(Job::new("add").args((2, 40)).priority(Priority::High))
        .await?;
    let flaky = tasks.enqueue(Job::new("flaky")).await?;
    let checksum = tasks
        .enqueue(Job::new("checksum").args(vec![1u8, 2, 3]))
        .await?;

    let stats = worker.run().await?;
    println!("add      = {}", sum.wait::<i64>().await?);
    println!(
        "flaky    = succeeded on attempt {}",
        flaky.wait::<u32>().await?
    );
    println!("checksum = {}", checksum.wait::<u64>().await?);
    println!("{stats:?}");
    printer.abort();
    Ok(())
}
