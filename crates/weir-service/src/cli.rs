//! `launch`: a service's `main`, with the standard arguments, logging,
//! the metrics endpoint, supervision and signals.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, ValueEnum};
use weir_core::Broker;
use weir_strategies::{ShutdownHandle, Signal};

use crate::connect::{OnBroker, with_broker};
use crate::{Service, ServiceError, ServiceGroup};

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// The arguments every service takes, each also read from an environment
/// variable (`WEIR_BROKER`, ...).
#[derive(Clone, Debug, Args)]
#[non_exhaustive]
pub struct StandardArgs {
    /// The service id (default: the one the program gives).
    #[arg(long, env = "WEIR_ID")]
    pub id: Option<String>,
    /// The broker: memory://, redis://host:port, rediss://…, redis+cluster://…,
    /// or Kafka bootstrap servers (host:port,… or kafka://host:port,…).
    #[arg(long, env = "WEIR_BROKER", default_value = "memory://")]
    pub broker: String,
    /// The log filter: a level (error, warn, info, debug, trace) or
    /// tracing directives (`info,weir_service=debug`).
    #[arg(long, env = "WEIR_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// The log format.
    #[arg(long, env = "WEIR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Where /metrics and /healthz are served.
    #[arg(long, env = "WEIR_METRICS_ADDR", default_value = crate::DEFAULT_METRICS_ADDR)]
    pub metrics_addr: SocketAddr,
    /// How many messages each consumer handles at once, unless its spec says.
    #[arg(long, env = "WEIR_CONCURRENCY", default_value_t = 1,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub concurrency: usize,
}

/// For a service with no arguments of its own: `launch(id, about, |standard, _: &NoArgs| ...)`.
#[derive(Clone, Copy, Debug, Default, Args)]
pub struct NoArgs {}

impl StandardArgs {
    /// The service id: `--id`, or the one given to [`launch`].
    pub fn service_id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }
}

#[derive(Debug, Parser)]
struct Cli<A: Args> {
    #[command(flatten)]
    standard: StandardArgs,
    #[command(flatten)]
    own: A,
}

/// Parses the arguments (the standard ones and the service's own, `A`),
/// sets up logging, asks `define` for the service, connects to the broker
/// and runs the service under a [`Supervisor`](crate::Supervisor) with the
/// metrics endpoint, until SIGINT or SIGTERM stops it gracefully.
///
/// Returns the process's exit code: 0 after a graceful stop, 1 when the
/// service cannot run (an unreachable broker, an invalid definition), 2
/// for bad arguments; each with a message on stderr, never a panic.
///
/// ```no_run
/// use weir_service::{ConsumerSpec, Context, HandlerError, Received, Service, launch};
///
/// #[derive(clap::Args)]
/// struct Args {
///     /// Words to leave out.
///     #[arg(long, env = "STOPWORDS", default_value = "")]
///     stopwords: String,
/// }
///
/// fn main() -> std::process::ExitCode {
///     launch("word-count", "Counts words.", |standard, args: &Args| {
///         let stop: Vec<String> = args.stopwords.split(',').map(str::to_owned).collect();
///         Service::builder(standard.service_id())
///             .consumer(ConsumerSpec::responder("count", "count-requests", move |t: Received<String>, _ctx| {
///                 let n = t.value.split_whitespace().filter(|w| !stop.iter().any(|s| s == w)).count();
///                 async move { Ok::<u64, HandlerError>(n as u64) }
///             }))
///             .build()
///     })
/// }
/// ```
pub fn launch<A, F>(id: &'static str, about: &'static str, define: F) -> ExitCode
where
    A: Args,
    F: FnOnce(&StandardArgs, &A) -> Result<Service, ServiceError>,
{
    launch_group(id, about, move |standard, own: &A| {
        Ok(ServiceGroup::new().service(define(standard, own)?))
    })
}

/// [`launch`] for several services in one process: each supervised on its
/// own, all sharing one metrics endpoint.
pub fn launch_group<A, F>(id: &'static str, about: &'static str, define: F) -> ExitCode
where
    A: Args,
    F: FnOnce(&StandardArgs, &A) -> Result<ServiceGroup, ServiceError>,
{
    let command = Cli::<A>::command().name(id).about(about);
    let parsed = command
        .try_get_matches()
        .and_then(|m| Cli::<A>::from_arg_matches(&m));
    let mut cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if let Err(message) = init_logging(&cli.standard) {
        eprintln!("{id}: {message}");
        return ExitCode::from(2);
    }
    cli.standard.id.get_or_insert_with(|| id.to_owned());
    let group = match define(&cli.standard, &cli.own) {
        Ok(g) => g
            .metrics_addr(cli.standard.metrics_addr)
            .with_concurrency(cli.standard.concurrency)
            .with_parameter("broker", &crate::connect::redact(&cli.standard.broker))
            .with_parameter("concurrency", &cli.standard.concurrency.to_string()),
        Err(e) => return fail(id, &e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{id}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let stop = ShutdownHandle::default();
        let on_signal = stop.clone();
        tokio::spawn(async move {
            Signal::any([Signal::Interrupt, Signal::Terminate]).await;
            tracing::info!("signal received: stopping gracefully");
            on_signal.shutdown();
        });
        with_broker(&cli.standard.broker, RunGroup { group, stop }).await
    });
    match outcome {
        Ok(Ok(())) | Err(ServiceError::Closed(_)) => ExitCode::SUCCESS,
        Ok(Err(e)) | Err(e) => fail(id, &e),
    }
}

fn fail(id: &str, e: &ServiceError) -> ExitCode {
    eprintln!("{id}: {}", weir_core::ErrorReport::new(e));
    ExitCode::FAILURE
}

struct RunGroup {
    group: ServiceGroup,
    stop: ShutdownHandle,
}

impl OnBroker for RunGroup {
    type Output = Result<(), ServiceError>;

    async fn on<B: Broker>(self, broker: B) -> Self::Output {
        self.group.run(&broker, &self.stop).await
    }
}

fn init_logging(args: &StandardArgs) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
        .map_err(|e| format!("invalid --log-level `{}`: {e}", args.log_level))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // Already set (a test, or the program's own): keep that one.
    let _ = installed;
    Ok(())
}
