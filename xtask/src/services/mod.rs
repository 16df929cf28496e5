//! The servers the tests need, in one place.
//!
//! A backend that needs a server adds one file here implementing [`Service`]
//! and one line in [`all`]. `cargo xtask test` then installs it when missing
//! and passes its environment (e.g. the binary's path) to the tests, which
//! start their own instances on free loopback ports.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::Subcommand;

use crate::run::workspace_root;

mod kafka;
// The lookup the testkit uses to find these programs: one file, so the two
// cannot disagree about where xtask installed something. Some of its items
// serve only the testkit.
#[allow(dead_code)]
#[path = "../../../crates/weir-testkit/src/servers/locate.rs"]
mod locate;
mod redis;

/// A server the test suite needs.
pub trait Service {
    /// A short name (`redis`, `kafka`).
    fn name(&self) -> &'static str;

    /// Installs what is missing; returns environment variables the tests read
    /// (for example where the server's binary is).
    fn install(&self) -> Result<Vec<(String, String)>, String>;

    /// The loopback port `services up` uses.
    fn default_port(&self) -> u16;

    /// The command that runs the server in the foreground on `port`, keeping
    /// its data under `dir`; `env` is what [`Service::install`] returned.
    fn command(&self, env: &[(String, String)], port: u16, dir: &Path) -> Command;
}

/// Every service, in start order.
pub fn all() -> Vec<Box<dyn Service>> {
    vec![Box::new(redis::Redis), Box::new(kafka::Kafka)]
}

/// Installs every service; returns the environment for the tests.
pub fn install_all() -> Result<Vec<(String, String)>, String> {
    let mut env = Vec::new();
    for s in all() {
        env.extend(
            s.install()
                .map_err(|e| format!("installing {}: {e}", s.name()))?,
        );
    }
    Ok(env)
}

/// Installs the services named in `names` only (unknown names are an
/// error), plus what compiling the workspace needs; returns the environment
/// for the programs that use them.
pub fn install_only(names: &[&str]) -> Result<Vec<(String, String)>, String> {
    let services = all();
    if let Some(unknown) = names
        .iter()
        .find(|n| !services.iter().any(|s| s.name() == **n))
    {
        return Err(format!("no service named {unknown}"));
    }
    kafka::install_build_needs().map_err(|e| format!("installing the build needs: {e}"))?;
    let mut env = Vec::new();
    for s in services.iter().filter(|s| names.contains(&s.name())) {
        env.extend(
            s.install()
                .map_err(|e| format!("installing {}: {e}", s.name()))?,
        );
    }
    Ok(env)
}

#[derive(Subcommand)]
pub enum Action {
    /// Install what the tests need (servers, libraries), and nothing else.
    Install,
    /// Start every service in the background on its default loopback port.
    Up,
    /// Stop the services `up` started.
    Down,
    /// Show which services run.
    Status,
}

fn state_dir(name: &str) -> PathBuf {
    workspace_root().join("target").join("services").join(name)
}

fn pid_of(name: &str) -> Option<u32> {
    fs::read_to_string(state_dir(name).join("pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

pub fn run(action: Action) -> Result<(), String> {
    match action {
        Action::Install => {
            for (name, value) in install_all()? {
                println!("{name}={value}");
            }
            Ok(())
        }
        Action::Up => {
            for s in all() {
                if pid_of(s.name()).is_some_and(alive) {
                    println!("{}: already running", s.name());
                    continue;
                }
                let env = s.install()?;
                let dir = state_dir(s.name());
                fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                let log = fs::File::create(dir.join("log")).map_err(|e| e.to_string())?;
                let log2 = log.try_clone().map_err(|e| e.to_string())?;
                let child = s
                    .command(&env, s.default_port(), &dir)
                    .stdin(Stdio::null())
                    .stdout(log)
                    .stderr(log2)
                    .spawn()
                    .map_err(|e| format!("starting {}: {e}", s.name()))?;
                fs::write(dir.join("pid"), child.id().to_string()).map_err(|e| e.to_string())?;
                println!(
                    "{}: started on 127.0.0.1:{} (pid {}, log {})",
                    s.name(),
                    s.default_port(),
                    child.id(),
                    dir.join("log").display()
                );
            }
            Ok(())
        }
        Action::Down => {
            for s in all() {
                if let Some(pid) = pid_of(s.name()) {
                    if alive(pid) {
                        let _ = Command::new("kill").arg(pid.to_string()).status();
                    }
                    let _ = fs::remove_file(state_dir(s.name()).join("pid"));
                    println!("{}: stopped", s.name());
                }
            }
            Ok(())
        }
        Action::Status => {
            for s in all() {
                let state = match pid_of(s.name()) {
                    Some(pid) if alive(pid) => {
                        format!("running (pid {pid}) on 127.0.0.1:{}", s.default_port())
                    }
                    _ => "stopped".to_owned(),
                };
                println!("{}: {state}", s.name());
            }
            Ok(())
        }
    }
}
