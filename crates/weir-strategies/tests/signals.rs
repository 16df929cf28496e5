//! With .handle_signals(true)`, SIGTERM stops the processor gracefully.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use weir_core::Payload;
use weir_strategies::{CommitOffsets, CommitPolicy, RunTask};

#[tokio::test]
async fn sigterm_stops_the_processor_and_commits() {
    // Install the process-wide handler first, so the signal can never take
    // the default action (ending the test process).
    let mut ours =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    let (broker, topic) = setup(1).await;
    produce(&broker, &topic, 1, 0..10).await;
    let p = builder(
        &broker,
        &topic,
        factory(|| RunTask::new(|p: Payload| Ok(p), CommitOffsets::new())),
    )
    .await
    .handle_signals(true)
    .commit_policy(CommitPolicy::every(Duration::from_secs(3600)))
    .build();
    let running = spawn(p);
    // Everything is processed, but the hour-long commit interval keeps it uncommitted.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(committed(&broker, &topic, 1).await[&0], None);

    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    ours.recv().await;
    let report = tokio::time::timeout(Duration::from_secs(10), running.task)
        .await
        .expect("the processor stops on SIGTERM")
        .unwrap()
        .unwrap();
    assert_eq!(report.messages, 10);
    assert_eq!(
        committed(&broker, &topic, 1).await[&0],
        Some(10),
        "the shutdown commit"
    );
}
