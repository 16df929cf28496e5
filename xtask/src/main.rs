//! `cargo xtask`: the project's tasks.
//!
//! - `cargo xtask test [ARGS]`: installs what the tests need (servers,
//!   libraries), runs clippy and rustdoc with warnings denied, then every
//!   test with cargo-nextest and the doc tests (with ARGS, a nextest filter
//!   say, only the nextest run). Tests start their own servers on free
//!   loopback ports; this step only makes sure the programs are there.
//! - `cargo xtask services install|up|down|status`: installs the servers'
//!   programs only, or starts or stops long-running servers on their default
//!   loopback ports, for trying things by hand.
//! - `cargo xtask bench [NAME]`: runs the benchmarks (all, or one suite).
//! - `cargo xtask fuzz [TARGET] [--seconds N]`: runs the fuzz targets in
//!   `fuzz/` (all, or one) for N seconds each; `cargo xtask test` runs each
//!   for a few seconds.
//! - `cargo xtask soak [ARGS]`: millions of messages through a pipeline on
//!   memory and Redis, with the memory used at 1M and at the end.

mod bench;
mod fuzz;
mod run;
mod services;
mod soak;
mod test;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Weir's project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what the tests need, lint, then run the whole suite.
    Test {
        /// Extra arguments for cargo-nextest (a test filter, say).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Install, start, stop or show the test servers.
    Services {
        #[command(subcommand)]
        action: services::Action,
    },
    /// Run benchmarks and print ratios against their peers.
    Bench {
        /// One suite (e.g. `memory`, `strategies`, `redis`, `kafka`, `collector`); all when absent.
        name: Option<String>,
    },
    /// Fuzz the parsers (all targets, or one) with cargo-fuzz.
    Fuzz {
        /// One target (e.g. `redis_run`, `codec_msgpack`); all when absent.
        target: Option<String>,
        /// How long each target runs.
        #[arg(long, default_value_t = fuzz::LONG_SECONDS)]
        seconds: u64,
    },
    /// Soak: 10M messages on memory, 2M on Redis, memory recorded.
    Soak {
        /// Arguments for the soak binary (`--memory N`, `--redis N`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Test { args } => test::run(&args),
        Task::Services { action } => services::run(action),
        Task::Bench { name } => bench::run(name.as_deref()),
        Task::Fuzz { target, seconds } => fuzz::run(target.as_deref(), seconds),
        Task::Soak { args } => soak::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
