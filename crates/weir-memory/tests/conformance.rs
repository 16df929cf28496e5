//! weir-memory passes the whole conformance suite.

use std::time::Duration;

use weir_memory::MemoryBroker;
use weir_testkit::interleave::{InterleavingConfig, check_interleavings};

async fn broker() -> MemoryBroker {
    MemoryBroker::new()
}

weir_testkit::conformance_suite!(broker);

#[test]
fn random_interleavings_lose_nothing_and_never_commit_backwards() {
    check_interleavings(
        InterleavingConfig {
            cases: 200,
            max_len: 80,
            partitions: 3,
            poll_wait: Duration::from_millis(50),
            paused_clock: true,
        },
        MemoryBroker::new,
    );
}

#[test]
fn random_interleavings_with_round_robin_and_a_short_rebalance_timeout() {
    check_interleavings(
        InterleavingConfig {
            cases: 100,
            max_len: 80,
            partitions: 5,
            poll_wait: Duration::from_millis(50),
            paused_clock: true,
        },
        || {
            MemoryBroker::builder()
                .assignor(weir_memory::Assignor::RoundRobin)
                .rebalance_timeout(Duration::from_millis(200))
                .build()
        },
    );
}
