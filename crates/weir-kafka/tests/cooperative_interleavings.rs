//! The random-interleaving property test with the cooperative-sticky
//! protocol, under a time budget: a stalled group fails the test instead of
//! hanging it.
//!
//! Ignored on tansu 0.6, where it stalls in about half the runs (3 of 5
//! with one-message polls, 2 of 5 with batched reads; otherwise it passes in
//! 15 to 30 s). In the stalled runs every step completes, members join,
//! leave and crash while the group rebalances incrementally, and then the
//! fresh member that reads back the rest never gets past connecting to the
//! broker: librdkafka's debug log shows its bootstrap connection stuck in
//! `CONNECT`, with no group join started, while the consumer keeps polling.
//! The eager variant in `conformance.rs` has not stalled. Run this one
//! against a real cluster with
//! `WEIR_KAFKA_BOOTSTRAP=host:9092 cargo nextest run -p weir-kafka --run-ignored all`.

use std::sync::mpsc;
use std::time::Duration;

mod common;

use weir_kafka::{KafkaBroker, RebalanceProtocol};
use weir_testkit::interleave::check_interleavings;

const BUDGET: Duration = Duration::from_secs(60);

fn broker() -> KafkaBroker {
    common::broker_with(common::config().rebalance_protocol(RebalanceProtocol::CooperativeSticky))
}

#[test]
#[ignore = "stalls on tansu 0.6 in about half the runs (see the module docs); run against a real cluster"]
fn cooperative_interleavings_lose_nothing_and_never_commit_backwards() {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        check_interleavings(common::interleavings(), broker);
        let _ = done.send(());
    });
    match finished.recv_timeout(BUDGET) {
        Ok(()) => {}
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("stalled past {BUDGET:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("an interleaving failed (above)"),
    }
}
