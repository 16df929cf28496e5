//! The Lua scripts that keep multi-step operations atomic on the server.
//!
//! Each lives in `src/lua/` with a header saying what its keys and arguments
//! are. Every call's keys share one slot (see `keys.rs`), so each runs on a
//! Redis Cluster too. They are sent by hash (EVALSHA); a server that lost
//! them (restart) gets them all again on the first `NOSCRIPT` reply, plain
//! or inside a pipeline's failure, and the call is tried once more
//! (`connection.rs`).

use std::sync::OnceLock;

use redis::{Cmd, Script, ToRedisArgs};

/// One Lua script.
pub(crate) struct Lua {
    script: OnceLock<Script>,
    code: &'static str,
}

impl Lua {
    const fn new(code: &'static str) -> Self {
        Lua {
            script: OnceLock::new(),
            code,
        }
    }

    pub(crate) fn code(&self) -> &'static str {
        self.code
    }

    /// An EVALSHA command with these keys and arguments.
    pub(crate) fn cmd<K: ToRedisArgs>(&self, keys: &[K], args: impl FnOnce(&mut Cmd)) -> Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(
            self.script
                .get_or_init(|| Script::new(self.code))
                .get_hash(),
        )
        .arg(keys.len())
        .arg(keys);
        args(&mut cmd);
        cmd
    }
}

macro_rules! scripts {
    ($($name:ident => $file:literal),+ $(,)?) => {
        $(pub(crate) static $name: Lua = Lua::new(include_str!(concat!("lua/", $file)));)+
        /// Every script, for reloading.
        pub(crate) static ALL_SCRIPTS: &[&Lua] = &[$(&$name),+];
    };
}

scripts! {
    APPEND => "append.lua",
    COMMIT => "commit.lua",
    REPOSITION => "reposition.lua",
    HEARTBEAT => "heartbeat.lua",
    RENEW => "renew.lua",
    ACQUIRE => "acquire.lua",
    RELEASE => "release.lua",
    LEAVE => "leave.lua",
    DELAY_ADD => "delay_add.lua",
    DELAY_MOVE => "delay_move.lua",
    PERMIT_TAKE => "permit_take.lua",
}
