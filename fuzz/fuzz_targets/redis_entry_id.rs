//! Stream entry ids as offsets: an id reads as an offset or is passed over,
//! and one that reads is the id of that offset's entry.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = weir_redis::fuzzing::entry_id_end(data);
});
