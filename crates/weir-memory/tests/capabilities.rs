//! weir-memory offers every job capability and passes their shared scenarios.

use weir_memory::MemoryBroker;

async fn broker() -> MemoryBroker {
    MemoryBroker::new()
}

weir_testkit::capability_suite!(broker);
