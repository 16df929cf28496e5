//! tansu, an Apache-Kafka-compatible broker, for the Kafka backend's tests.
//!
//! [`start`] runs one broker on a free loopback port with in-memory storage.
//! [`bootstrap`] is what a test usually wants: the servers of the cluster
//! named by `WEIR_KAFKA_BOOTSTRAP` when set (a user's real Kafka), else one
//! tansu shared by every test of the process, started on first use.
//!
//! The broker runs under a small shell watchdog that reads the test
//! process's end of a pipe: when that process exits, however it exits, the
//! pipe closes and the watchdog stops tansu, so no broker outlives its tests.

use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::{free_port, locate, scratch_dir};

/// How long tansu may take to listen (it usually needs well under a second).
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The most of tansu's output kept in its `server.log`; the rest is read
/// and dropped. A broker shared by a whole test process lives as long as
/// the process, and a client that makes tansu complain in a loop would
/// otherwise fill the disk.
const LOG_LIMIT: u64 = 8 * 1024 * 1024;

/// A running tansu broker; dropping it stops the broker and removes its directory.
#[derive(Debug)]
pub struct Tansu {
    child: Child,
    watchdog: Option<ChildStdin>,
    port: u16,
    dir: PathBuf,
}

impl Tansu {
    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, the value of `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Its scratch directory (holding `server.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Freezes the broker (`SIGSTOP`): it holds its connections and its
    /// data but answers nothing, as a hung or partitioned broker does,
    /// until [`resume`](Tansu::resume).
    pub fn pause(&self) {
        self.signal_broker("STOP");
    }

    /// Lets a [`pause`](Tansu::pause)d broker go on (`SIGCONT`).
    pub fn resume(&self) {
        self.signal_broker("CONT");
    }

    /// Sends `signal` to tansu itself: the watchdog shell's children
    /// (`/proc`), through the shell's `kill` builtin.
    fn signal_broker(&self, signal: &str) {
        let shell = self.child.id();
        let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
            .unwrap_or_else(|e| panic!("listing the children of tansu's watchdog: {e}"));
        let pids: Vec<&str> = children.split_whitespace().collect();
        assert!(!pids.is_empty(), "tansu's watchdog has no children");
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("kill -s {signal} \"$@\""))
            .arg("signal")
            .args(&pids)
            .status()
            .unwrap_or_else(|e| panic!("sending SIG{signal} to tansu: {e}"));
        assert!(status.success(), "SIG{signal} to tansu: {status}");
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let start = log.len().saturating_sub(2000);
        log.get(start..).unwrap_or_default().to_owned()
    }

    fn stop(&mut self) {
        // Closing the pipe makes the watchdog stop tansu; killing the shell
        // as well covers a watchdog that is not reading yet.
        drop(self.watchdog.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where tansu is, looked up once per process as `cargo xtask` looks
/// ([`locate::tansu`]).
fn program() -> PathBuf {
    static PROGRAM: OnceLock<Option<PathBuf>> = OnceLock::new();
    PROGRAM
        .get_or_init(locate::tansu)
        .clone()
        .unwrap_or_else(|| panic!("tansu not found: `{}` installs it", locate::INSTALL_COMMAND))
}

/// Copies tansu's output into `log`, up to [`LOG_LIMIT`] bytes in all,
/// and drops the rest (still reading it, so tansu never blocks on a full
/// pipe).
fn keep_log(
    stdout: Option<std::process::ChildStdout>,
    stderr: Option<std::process::ChildStderr>,
    log: std::fs::File,
) {
    use std::io::{Read, Write};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    let written = Arc::new(AtomicU64::new(0));
    let log = Arc::new(Mutex::new(log));
    let readers: [Option<Box<dyn Read + Send>>; 2] = [
        stdout.map(|r| Box::new(r) as Box<dyn Read + Send>),
        stderr.map(|r| Box::new(r) as Box<dyn Read + Send>),
    ];
    for mut reader in readers.into_iter().flatten() {
        let (written, log) = (Arc::clone(&written), Arc::clone(&log));
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let before = written.fetch_add(n as u64, Ordering::Relaxed);
                if before < LOG_LIMIT {
                    let keep = (LOG_LIMIT - before).min(n as u64) as usize;
                    let mut file = log.lock().unwrap_or_else(PoisonError::into_inner);
                    let _ = file.write_all(&buf[..keep]);
                }
            }
        });
    }
}

/// Starts tansu (found as [`locate::tansu`] says) on a free loopback port
/// with in-memory storage, and waits until it accepts connections.
pub fn start() -> Tansu {
    let program = program();
    let port = free_port();
    let dir = scratch_dir("tansu");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    let log = std::fs::File::create(dir.join("server.log"))
        .unwrap_or_else(|e| panic!("creating the tansu log: {e}"));
    let url = format!("tcp://127.0.0.1:{port}");
    // The shell starts tansu, then waits for end-of-file on its stdin (our
    // pipe) and stops tansu; tansu itself exiting ends the shell too.
    let script = r#"exec 3<&0; "$@" </dev/null & pid=$!; (cat <&3 >/dev/null; kill "$pid" 2>/dev/null) & wait "$pid""#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("tansu-watchdog")
        .arg(&program)
        .args(["broker", "--listener-url", &url])
        .args(["--advertised-listener-url", &url])
        .args(["--storage-engine", "memory://tansu/"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting tansu ({}): {e}", program.display()));
    let watchdog = child.stdin.take();
    keep_log(child.stdout.take(), child.stderr.take(), log);
    let mut tansu = Tansu {
        child,
        watchdog,
        port,
        dir,
    };
    let deadline = Instant::now() + READY_WITHIN;
    let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    while TcpStream::connect_timeout(&addr.into(), Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = tansu.child.try_wait() {
            panic!(
                "tansu exited with {status} before listening; log: {}",
                tansu.log_tail()
            );
        }
        assert!(
            Instant::now() < deadline,
            "tansu did not listen on {addr} within {READY_WITHIN:?}; log: {}",
            tansu.log_tail()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    tansu
}

/// The bootstrap servers tests use: `WEIR_KAFKA_BOOTSTRAP` when set, else a
/// tansu shared by the whole test process (started on first call, stopped
/// when the process exits).
pub fn bootstrap() -> String {
    if let Some(servers) = std::env::var("WEIR_KAFKA_BOOTSTRAP")
        .ok()
        .filter(|s| !s.trim().is_empty())
    {
        return servers;
    }
    static SHARED: OnceLock<Mutex<Tansu>> = OnceLock::new();
    SHARED
        .get_or_init(|| Mutex::new(start()))
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .bootstrap()
}
