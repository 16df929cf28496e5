//! A StreamProcessor pipeline on Redis or Kafka as a process of its own,
//! for the process-level fault tests: it appends the number of every
//! message it processes, one per line, to a file, and commits every 100 ms.
//!
//! ```text
//! pipeline_process redis <redis-url>  <topic> <group> <out-file> <session-ms>
//! pipeline_process kafka <bootstrap>  <topic> <group> <out-file> <session-ms>
//! ```
//!
//! It runs until killed, or stops gracefully on SIGTERM; it exits non-zero
//! if the processor fails.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weir_core::{Broker, ConsumerConfig, Payload, Topic};
use weir_integration_tests::quick_redis_config;
use weir_kafka::{KafkaBroker, KafkaConfig};
use weir_redis::RedisBroker;
use weir_strategies::{CommitOffsets, CommitPolicy, RunTask, StrategyContext, StreamProcessor};

fn arg(args: &[String], i: usize, what: &str) -> String {
    args.get(i)
        .cloned()
        .unwrap_or_else(|| panic!("argument {i} ({what}) is missing"))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let backend = arg(&args, 1, "broker: redis or kafka");
    let address = arg(&args, 2, "redis url or kafka bootstrap servers");
    let topic = Topic::new(arg(&args, 3, "topic"));
    let group = arg(&args, 4, "group");
    let out = arg(&args, 5, "output file");
    let session_ms: u64 = arg(&args, 6, "session ms")
        .parse()
        .expect("session ms is a number");
    let session = Duration::from_millis(session_ms);
    match backend.as_str() {
        "redis" => {
            let config = quick_redis_config(address, session);
            // Lazy: the server may be down when this process starts.
            let broker = RedisBroker::connect_lazy(config).expect("broker");
            run(broker, topic, group, &out).await;
        }
        "kafka" => {
            let config = KafkaConfig::builder(address)
                .fast_group_joins()
                .set_consumer("session.timeout.ms", session_ms.to_string())
                .build()
                .expect("config");
            run(KafkaBroker::new(config), topic, group, &out).await;
        }
        other => panic!("unknown broker {other:?}: redis or kafka"),
    }
}

async fn run<B: Broker>(broker: B, topic: Topic, group: String, out: &str) {
    let consumer = broker
        .consumer(
            ConsumerConfig::builder(group)
                .max_poll_records(50)
                .build()
                .expect("consumer config"),
        )
        .await
        .expect("consumer");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
        .expect("output file");
    let file = Arc::new(Mutex::new(file));
    let processor = StreamProcessor::builder(consumer, [topic], move |_: &StrategyContext| {
        let file = Arc::clone(&file);
        RunTask::new(
            move |p: Payload| {
                // Slow enough that a kill lands in the middle of the work.
                std::thread::sleep(Duration::from_micros(300));
                let mut f = file
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                f.write_all(&p.value)
                    .and_then(|()| f.write_all(b"\n"))
                    .expect("writing the output file");
                Ok(())
            },
            CommitOffsets::new(),
        )
    })
    .commit_policy(CommitPolicy::every(Duration::from_millis(100)))
    .outage_timeout(Duration::from_secs(60))
    .handle_signals(true)
    .build();
    match processor.run().await {
        Ok(report) => eprintln!("stopped: {report:?}"),
        Err(e) => {
            eprintln!("the processor failed: {e:?}");
            std::process::exit(1);
        }
    }
}
