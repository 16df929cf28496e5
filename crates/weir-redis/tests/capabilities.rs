//! The job capabilities on Redis pass the shared scenarios.

mod common;

use common::TestBroker;

async fn broker() -> TestBroker {
    TestBroker::start().await
}

weir_testkit::capability_suite!(broker);
