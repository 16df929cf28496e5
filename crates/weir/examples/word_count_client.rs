//! The word-count service's client: sends each text given on the command
//! line, all at once, and prints the counts.
//!
//! ```text
//! cargo run -p weir --example word_count_client --features service,redis -- \
//!     --broker redis://127.0.0.1:6379 "to be or not to be" "the quick brown fox"
//! ```
//!
//! (On `memory://` the service must run in the same process: the
//! `word_count` example does that by itself.)

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use weir::core::Broker;
use weir::service::{OnBroker, RequestClient, ServiceError, with_broker};

/// Asks the word-count service to count the words of some texts.
#[derive(Parser)]
struct Args {
    /// The broker: redis://host:port, rediss://…, or Kafka bootstrap servers.
    #[arg(long, env = "WEIR_BROKER")]
    broker: String,
    /// The service's request topic.
    #[arg(long, env = "WORD_COUNT_TOPIC", default_value = "word-count")]
    topic: String,
    /// How long to wait for each answer, in seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// The texts.
    #[arg(required = true)]
    texts: Vec<String>,
}

struct Ask(Args);

impl OnBroker for Ask {
    type Output = Result<Vec<(String, u64)>, ServiceError>;

    async fn on<B: Broker>(self, broker: B) -> Self::Output {
        let args = self.0;
        let client = RequestClient::<String, u64>::builder("word-count-client", args.topic)
            .timeout(Duration::from_secs(args.timeout))
            .connect(&broker)
            .await?;
        // All in flight at once, sharing the client's one response consumer.
        let asks = args.texts.iter().map(|t| client.request(t));
        let counts: Vec<u64> = futures::future::try_join_all(asks).await?;
        client.close().await;
        Ok(args.texts.into_iter().zip(counts).collect())
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let url = args.broker.clone();
    match with_broker(&url, Ask(args)).await {
        Ok(Ok(counts)) => {
            for (text, n) in counts {
                println!("{text:?}: {n} words");
            }
            ExitCode::SUCCESS
        }
        Ok(Err(e)) | Err(e) => {
            eprintln!("word_count_client: {}", weir::core::ErrorReport::new(&e));
            ExitCode::FAILURE
        }
    }
}
