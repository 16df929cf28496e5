//! A `redis-server` of its own for a test, on a free loopback port.
//!
//! ```no_run
//! use weir_testkit::servers::redis::RedisServer;
//! let server = RedisServer::start();
//! let url = server.url(); // redis://127.0.0.1:<port>
//! # let _ = url;
//! ```
//!
//! The binary is found as [`locate::redis_server`] says, the way
//! `cargo xtask` finds it: `$WEIR_REDIS_SERVER`, the PATH, then
//! `/usr/bin/redis-server` (Debian's package `redis-server`).

use std::process::Command;
use std::time::Duration;

use super::{START_ATTEMPTS, ServerProcess, free_port, locate, scratch_dir};

/// A running `redis-server`; dropping it kills the server and removes its directory.
#[derive(Debug)]
pub struct RedisServer {
    process: ServerProcess,
    password: Option<String>,
    #[cfg(feature = "tls")]
    tls: Option<Tls>,
}

/// How a TLS test server checks clients.
#[cfg(feature = "tls")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// Clients need no certificate.
    None,
    /// Clients must present a certificate signed by the test CA (mutual TLS).
    Required,
}

#[cfg(feature = "tls")]
#[derive(Clone, Debug)]
struct Tls {
    certificates: super::tls::TestCertificates,
    clients: ClientAuth,
}

/// Settings for a test server.
#[derive(Clone, Debug, Default)]
pub struct RedisServerBuilder {
    append_only: bool,
    password: Option<String>,
    #[cfg(feature = "tls")]
    tls: Option<Tls>,
}

impl RedisServerBuilder {
    /// Persist every write to an append-only file before replying, so the
    /// data survives [`RedisServer::restart`] (default: no persistence).
    pub fn append_only(mut self, yes: bool) -> Self {
        self.append_only = yes;
        self
    }

    /// Whether [`RedisServerBuilder::append_only`] is on.
    pub fn is_append_only(&self) -> bool {
        self.append_only
    }

    /// Require this password (of the `default` user).
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Serve TLS only (no plain port), with a certificate from freshly made
    /// [`TestCertificates`](super::tls::TestCertificates); clients reach it
    /// at [`RedisServer::url`] (`rediss://`) and trust [`RedisServer::certificates`]' CA.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, clients: ClientAuth) -> Self {
        self.tls = Some(Tls {
            certificates: super::tls::TestCertificates::generate(),
            clients,
        });
        self
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(self) -> RedisServer {
        let program = locate::redis_server().unwrap_or_else(|| {
            panic!(
                "redis-server not found: `{}` installs it",
                locate::INSTALL_COMMAND
            )
        });
        // A port picked free may be taken by another test before the
        // server binds it: then it starts again on another.
        let mut attempt = 0;
        let process = loop {
            attempt += 1;
            let port = free_port();
            let dir = scratch_dir("redis");
            let mut cmd = Command::new(&program);
            #[cfg(feature = "tls")]
            if let Some(tls) = &self.tls {
                let files = tls.certificates.write_to(&dir);
                let auth = match tls.clients {
                    ClientAuth::None => "no",
                    ClientAuth::Required => "yes",
                };
                cmd.args(["--port", "0", "--tls-port", &port.to_string()])
                    .arg("--tls-cert-file")
                    .arg(&files.cert)
                    .arg("--tls-key-file")
                    .arg(&files.key)
                    .arg("--tls-ca-cert-file")
                    .arg(&files.ca)
                    .args(["--tls-auth-clients", auth]);
            }
            #[cfg(feature = "tls")]
            let plain = self.tls.is_none();
            #[cfg(not(feature = "tls"))]
            let plain = true;
            if plain {
                cmd.arg("--port").arg(port.to_string());
            }
            cmd.arg("--bind")
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
            match ServerProcess::try_start("redis-server", cmd, port, dir, Duration::from_secs(10))
            {
                Ok(process) => break process,
                Err(_) if attempt < START_ATTEMPTS => continue,
                Err(e) => panic!("{e}"),
            }
        };
        RedisServer {
            process,
            password: self.password,
            #[cfg(feature = "tls")]
            tls: self.tls,
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

    /// `redis://[:password@]127.0.0.1:<port>` (`rediss://` for a TLS server).
    pub fn url(&self) -> String {
        #[cfg(feature = "tls")]
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        #[cfg(not(feature = "tls"))]
        let scheme = "redis";
        match &self.password {
            Some(pw) => format!("{scheme}://:{pw}@127.0.0.1:{}", self.process.port()),
            None => format!("{scheme}://127.0.0.1:{}", self.process.port()),
        }
    }

    /// The certificates of a TLS server (its CA and a client identity).
    #[cfg(feature = "tls")]
    pub fn certificates(&self) -> Option<&super::tls::TestCertificates> {
        self.tls.as_ref().map(|t| &t.certificates)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// Kills the server at once (clients see a crash).
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Kills the server (if it runs) and starts it again on the same port
    /// and directory: after [`RedisServer::kill`], the end of an outage.
    /// With [`append_only`](RedisServerBuilder::append_only) its data survives.
    pub fn restart(&mut self) {
        self.process.restart(Duration::from_secs(10));
    }
}
