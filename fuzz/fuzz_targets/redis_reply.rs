//! Raw RESP bytes as a Redis read reply: parsed by the `redis` crate, then
//! read as the consumer reads an `XREADGROUP` reply (streams, entry ids,
//! runs, messages) and as a read pipeline's replies. Never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = weir_redis::fuzzing::read_reply(data);
});
