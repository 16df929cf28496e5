//! A `redis-server` of its own for a test, on a free loopback port.
//!
//! ```no_run
//! use weir_testkit::servers::redis::RedisServer;
//! let server = RedisServer::start();
//! let url = server.url(); // redis://127.0.0.1:<port>
//! # let _ = url;
//! ```
//!
//! The binary is `$WEIR_REDIS_SERVER` (set by `cargo xtask test`), else
//! `redis-server` on the PATH (Debian's package `redis-server`).

use std::process::Command;
use std::time::Duration;

use super::{ServerProcess, find_program, free_port, scratch_dir};

/// A running `redis-server`; dropping it kills the server and removes its directory.
#[derive(Debug)]
pub struct RedisServer {
    process: ServerProcess,
    password: Option<String>,
}

/// Settings for a test server.
#[derive(Clone, Debug, Default)]
pub struct RedisServerBuilder {
    append_only: bool,
    password: Option<String>,
}

impl RedisServerBuilder {
    /// Persist every write to an append-only file before replying, so the
    /// data survives [`RedisServer::restart`] (default: no persistence).
    pub fn append_only(mut self, yes: bool) -> Self {
        self.append_only = yes;
        self
    }

    /// Require this password (of the `default` user).
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(self) -> RedisServer {
        let program = find_program("WEIR_REDIS_SERVER", "redis-server").unwrap_or_else(|| {
            panic!(
                "redis-server not found: run `cargo xtask test` (it installs Debian's redis-server) \
                 or set WEIR_REDIS_SERVER to its path"
            )
        });
        let port = free_port();
        let dir = scratch_dir("redis");
        let mut cmd = Command::new(program);
        cmd.arg("--port")
            .arg(port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(&dir)
            .args(["--save", ""])
            .args(["--daemonize", "no"])
            .args(["--databases", "4"]);
        if self.append_only {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        if let Some(pw) = &self.password {
            cmd.args(["--requirepass", pw]);
        }
        let process = ServerProcess::start("redis-server", cmd, port, dir, Duration::from_secs(10));
        RedisServer {
            process,
            password: self.password,
        }
    }
}

impl RedisServer {
    /// Starts a server without persistence.
    pub fn start() -> Self {
        RedisServer::builder().start()
    }

    /// A builder for other settings.
    pub fn builder() -> RedisServerBuilder {
        RedisServerBuilder::default()
    }

    /// `redis://[:password@]127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        match &self.password {
            Some(pw) => format!("redis://:{pw}@127.0.0.1:{}", self.process.port()),
            None => format!("redis://127.0.0.1:{}", self.process.port()),
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// Kills the server at once (clients see a crash).
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Kills the server and starts it again on the same port and directory.
    pub fn restart(&mut self) {
        self.process.restart(Duration::from_secs(10));
    }
}
