//! What the process-level fault tests share: a pipeline process
//! (`src/bin/pipeline_process.rs`) and the count of what it processed.

#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use weir::core::Topic;
use weir_testkit::Tally;

/// A pipeline process; killed when dropped.
pub struct PipelineProcess {
    child: Child,
    out: PathBuf,
}

impl PipelineProcess {
    /// Starts one on `backend` (`redis` or `kafka`) at `address`, reading
    /// `topic` in `group`, writing what it processes to `out`.
    pub fn spawn(
        backend: &str,
        address: &str,
        topic: &Topic,
        group: &str,
        out: PathBuf,
        session: Duration,
    ) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_pipeline_process"))
            .args([backend, address, topic.as_str(), group])
            .arg(&out)
            .arg(session.as_millis().to_string())
            .spawn()
            .expect("the pipeline process starts");
        PipelineProcess { child, out }
    }

    /// The numbers it processed so far, in order, duplicates included.
    pub fn processed(&self) -> Vec<u64> {
        read_numbers(&self.out)
    }

    /// SIGKILL: no graceful anything.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("reap");
    }

    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!("the pipeline process exited: {status}");
        }
    }
}

impl Drop for PipelineProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_numbers(path: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // A line cut short by a kill has no newline yet: skip it.
    let complete = text.rsplit_once('\n').map_or("", |(done, _)| done);
    complete
        .lines()
        .map(|l| l.parse().expect("a number per line"))
        .collect()
}

/// Counts what every pipeline process wrote.
pub fn tally(pipelines: &[&PipelineProcess]) -> Tally {
    let t = Tally::default();
    for p in pipelines {
        for n in p.processed() {
            t.record_number(n);
        }
    }
    t
}

/// Polls `done` every 20 ms for up to a minute.
pub async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
