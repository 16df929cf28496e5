//! What the process-level fault tests share: a pipeline process
//! (`src/bin/pipeline_process.rs`) and the count of what it processed.

#![allow(dead_code)] // each test file uses its own part

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use weir::core::Topic;
use weir_testkit::Tally;

/// A child process of a fault test that writes one line per thing it did
/// to a file; killed when dropped.
pub struct ChildProcess {
    what: &'static str,
    child: Child,
    out: PathBuf,
}

impl ChildProcess {
    /// Starts `command`, which writes its lines to `out`; `what` names it
    /// in failures.
    pub fn spawn(what: &'static str, mut command: Command, out: PathBuf) -> Self {
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("the {what} starts: {e}"));
        ChildProcess { what, child, out }
    }

    /// The complete lines it wrote so far (a line cut short by a kill has
    /// no newline yet, and is left out).
    pub fn lines(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        let complete = text.rsplit_once('\n').map_or("", |(done, _)| done);
        complete.lines().map(str::to_owned).collect()
    }

    /// SIGKILL: no graceful shutdown, no commit.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("reap");
    }

    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!("the {} exited: {status}", self.what);
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A pipeline process: a [`ChildProcess`] writing each number it processed.
pub struct PipelineProcess(ChildProcess);

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
        let mut command = Command::new(env!("CARGO_BIN_EXE_pipeline_process"));
        command
            .args([backend, address, topic.as_str(), group])
            .arg(&out)
            .arg(session.as_millis().to_string());
        PipelineProcess(ChildProcess::spawn("pipeline process", command, out))
    }

    /// The numbers it processed so far, in order, duplicates included.
    pub fn processed(&self) -> Vec<u64> {
        self.0
            .lines()
            .iter()
            .map(|l| l.parse().expect("a number per line"))
            .collect()
    }

    /// SIGKILL: no graceful anything.
    pub fn kill(&mut self) {
        self.0.kill();
    }

    pub fn assert_running(&mut self) {
        self.0.assert_running();
    }
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

/// Waits until `first` (killed after processing `before`) and `second`
/// together processed every number of `produced`, then asserts none was
/// lost and at most 1,000 were processed again: one commit interval
/// (100 ms) of the killed process's work, plus what it had read ahead,
/// with room for a slow machine.
pub async fn finishes_after_kill(
    first: &PipelineProcess,
    second: &mut PipelineProcess,
    produced: &std::collections::BTreeSet<u64>,
    before: usize,
) {
    wait_for("the other process processes everything", || {
        tally(&[first, second]).has_all(produced)
    })
    .await;
    second.assert_running();
    let verdict = tally(&[first, second]).verdict(produced);
    eprintln!(
        "killed after {before}; first {}, second {}: {verdict:?}",
        first.processed().len(),
        second.processed().len()
    );
    assert_eq!(verdict.lost, Vec::<u64>::new());
    assert!(
        verdict.duplicates <= 1000,
        "{} duplicates",
        verdict.duplicates
    );
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
