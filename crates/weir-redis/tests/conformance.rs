//! weir-redis passes the whole conformance suite, on a redis-server per test.

mod common;

use std::time::Duration;

use common::TestBroker;
use weir_testkit::interleave::{InterleavingConfig, check_interleavings};
use weir_testkit::servers::redis::RedisServer;

async fn broker() -> TestBroker {
    TestBroker::start().await
}

weir_testkit::conformance_suite!(broker);

#[test]
fn random_interleavings_lose_nothing_and_never_commit_backwards() {
    let server = RedisServer::start();
    let url = server.url();
    check_interleavings(
        InterleavingConfig {
            cases: 16,
            max_len: 40,
            partitions: 3,
            poll_wait: Duration::from_millis(100),
            paused_clock: false,
        },
        || {
            weir_redis::RedisBroker::connect_lazy(common::fast(&url).build().expect("config"))
                .expect("a lazy handle")
        },
    );
    drop(server);
}
