//! Real servers for tests: each started on a free loopback port with its own
//! temporary directory, and stopped when its guard is dropped.
//!
//! A backend adds one file here with a `start()` function returning a
//! [`ServerProcess`]. Binaries are found by [`locate`], the lookup
//! `cargo xtask` uses too, so tests run without xtask find what it installed.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod locate;
pub mod redis;
pub mod redis_cluster;
pub mod tansu;
#[cfg(feature = "tls")]
pub mod tls;

/// How many times a test server is started on fresh ports when the ones
/// picked were taken by another test between the pick and the start.
pub const START_ATTEMPTS: usize = 5;

/// A free TCP port on 127.0.0.1 (the OS picks one; it is free when returned).
pub fn free_port() -> u16 {
    TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}

/// Finds a program: the path in environment variable `var`, else `name` on the PATH.
pub fn find_program(var: &str, name: &str) -> Option<PathBuf> {
    locate::from_env(var).or_else(|| locate::on_path(name))
}

/// A server process started for a test. Dropping it kills the process and
/// removes its directory.
#[derive(Debug)]
pub struct ServerProcess {
    name: &'static str,
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    command: Command,
}

impl ServerProcess {
    /// Starts `command` (which must listen on 127.0.0.1:`port`) and waits up
    /// to `ready_within` until the port accepts connections. `dir` is the
    /// server's scratch directory, removed on drop.
    pub fn start(
        name: &'static str,
        command: Command,
        port: u16,
        dir: PathBuf,
        ready_within: Duration,
    ) -> Self {
        Self::try_start(name, command, port, dir, ready_within).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`start`](Self::start), but a server that exits before listening
    /// (say, because another test took its port meanwhile) is an error to
    /// retry on other ports, not a panic.
    pub fn try_start(
        name: &'static str,
        mut command: Command,
        port: u16,
        dir: PathBuf,
        ready_within: Duration,
    ) -> Result<Self, String> {
        let child = spawn(name, &mut command, &dir);
        let mut server = ServerProcess {
            name,
            child: Some(child),
            port,
            dir,
            command,
        };
        server.wait_ready(ready_within)?;
        Ok(server)
    }

    fn wait_ready(&mut self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port);
        loop {
            if TcpStream::connect_timeout(&addr.into(), Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!(
                    "{} exited with {status} before listening; log: {}",
                    self.name,
                    self.log_tail()
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not listen on {addr} within {within:?}; log: {}",
                    self.name,
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its scratch directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Kills the process (a crash, as far as clients can tell).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the same command again (after [`ServerProcess::kill`]), on the same port and directory.
    pub fn restart(&mut self, ready_within: Duration) {
        self.kill();
        self.child = Some(spawn(self.name, &mut self.command, &self.dir));
        if let Err(e) = self.wait_ready(ready_within) {
            panic!("{e}");
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let start = log.len().saturating_sub(2000);
        log.get(start..).unwrap_or_default().to_owned()
    }
}

fn spawn(name: &str, command: &mut Command, dir: &Path) -> Child {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .unwrap_or_else(|e| panic!("creating the {name} log: {e}"));
    let err = log
        .try_clone()
        .unwrap_or_else(|e| panic!("{name} log: {e}"));
    command
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {name} ({command:?}): {e}"))
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh scratch directory under the system's temporary directory.
pub fn scratch_dir(prefix: &str) -> PathBuf {
    std::env::temp_dir().join(crate::unique_name(prefix))
}
