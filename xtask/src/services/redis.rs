//! Redis: Debian's `redis-server`. The tests start their own instances on
//! free loopback ports; `services up` runs one on the default port.

use std::path::Path;
use std::process::Command;

use super::{Service, locate};
use crate::run::apt_install;

pub struct Redis;

impl Service for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn install(&self) -> Result<Vec<(String, String)>, String> {
        if locate::redis_server().is_none() {
            apt_install(&["redis-server"])?;
        }
        let path = locate::redis_server()
            .ok_or("redis-server is still missing after installing the package")?;
        Ok(vec![(
            "WEIR_REDIS_SERVER".to_owned(),
            path.display().to_string(),
        )])
    }

    fn default_port(&self) -> u16 {
        6379
    }

    fn command(&self, env: &[(String, String)], port: u16, dir: &Path) -> Command {
        let program = env
            .iter()
            .find(|(k, _)| k == "WEIR_REDIS_SERVER")
            .map_or("redis-server", |(_, v)| v.as_str());
        let mut cmd = Command::new(program);
        cmd.arg("--port")
            .arg(port.to_string())
            .args(["--bind", "127.0.0.1", "--daemonize", "no", "--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(dir);
        cmd
    }
}
