//! The service scenarios on the embedded memory broker.

mod scenarios;

use weir_memory::MemoryBroker;

async fn broker() -> (MemoryBroker, ()) {
    (MemoryBroker::new(), ())
}

service_scenarios!(broker);
