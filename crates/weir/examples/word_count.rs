//! The word-count service: answers each text with its word count, leaving
//! out the stop words (`--stopwords`, or a config push of key `stopwords`).
//!
//! One command, on the embedded memory broker (the service then asks itself
//! a few questions through a client, prints the answers, and keeps running
//! until Ctrl-C):
//!
//! ```text
//! cargo run -p weir --example word_count --features service
//! ```
//!
//! On Redis or Kafka, with the client in another terminal:
//!
//! ```text
//! cargo run -p weir --example word_count --features service,redis -- --broker redis://127.0.0.1:6379
//! cargo run -p weir --example word_count_client --features service,redis -- \
//!     --broker redis://127.0.0.1:6379 "to be or not to be"
//! ```
//!
//! `--help` lists every argument; metrics and health are on
//! `http://127.0.0.1:9464/metrics` and `/healthz`.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use weir::service::{
    ConsumerSpec, Context, HandlerError, Received, RequestClient, Service, launch,
};

/// The word-count service's own arguments.
#[derive(clap::Args)]
struct Args {
    /// The topic requests arrive on.
    #[arg(long, env = "WORD_COUNT_TOPIC", default_value = "word-count")]
    topic: String,
    /// Words not counted, comma-separated (a config push of key `stopwords` replaces them).
    #[arg(long, env = "WORD_COUNT_STOPWORDS", default_value = "")]
    stopwords: String,
    /// The configuration topic.
    #[arg(
        long,
        env = "WORD_COUNT_CONFIG_TOPIC",
        default_value = "word-count-config"
    )]
    config_topic: String,
    /// How long each request takes at least, in milliseconds (to watch a
    /// graceful stop finish the work in flight).
    #[arg(long, env = "WORD_COUNT_WORK_MS", default_value_t = 0)]
    work_ms: u64,
}

fn main() -> std::process::ExitCode {
    launch(
        "word-count",
        "Counts the words of each text it is sent.",
        |standard, args: &Args| {
            let stopwords: Arc<RwLock<BTreeSet<String>>> = Arc::new(RwLock::new(
                args.stopwords
                    .split(',')
                    .filter(|w| !w.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ));
            let on_push = Arc::clone(&stopwords);
            let work = Duration::from_millis(args.work_ms);
            let demo = standard.broker.starts_with("memory");
            let topic = args.topic.clone();
            Service::builder(standard.service_id())
                .parameter("topic", &args.topic)
                .config_topic(args.config_topic.as_str())
                .on_config("stopwords", move |words: Option<Vec<String>>, version| {
                    if let Some(words) = words {
                        tracing::info!(version, ?words, "new stop words");
                        *on_push.write().unwrap_or_else(|e| e.into_inner()) =
                            words.into_iter().collect();
                    }
                })
                .consumer(ConsumerSpec::responder(
                    "count",
                    args.topic.as_str(),
                    move |text: Received<String>, _ctx: Context| {
                        let stopwords = Arc::clone(&stopwords);
                        async move {
                            tokio::time::sleep(work).await;
                            let stop = stopwords.read().unwrap_or_else(|e| e.into_inner());
                            let n = text
                                .value
                                .split_whitespace()
                                .filter(|w| !stop.contains(*w))
                                .count();
                            Ok::<u64, HandlerError>(n as u64)
                        }
                    },
                ))
                .on_start(move |ctx: Context| {
                    let topic = topic.clone();
                    async move {
                        if demo {
                            ctx.clone().spawn("demo client", ask_a_few(ctx, topic));
                        }
                        Ok(())
                    }
                })
                .build()
        },
    )
}

/// On the memory broker, where no other process can reach the service:
/// asks it a few questions and prints the answers.
async fn ask_a_few(ctx: Context, topic: String) -> Result<(), weir::strategies::BoxError> {
    let client: RequestClient<String, u64> = ctx
        .request_client(RequestClient::builder("demo", topic))
        .await?;
    for text in ["one", "the quick brown fox", "to be or not to be"] {
        let words = client.request(&text.to_owned()).await?;
        println!("{text:?}: {words} words");
    }
    println!("(running until Ctrl-C)");
    client.close().await;
    Ok(())
}
