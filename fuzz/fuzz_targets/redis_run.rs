//! The Redis entry format (a run of messages in one stream entry) on
//! arbitrary bytes: a run decodes or is refused, never panics; one that
//! decodes encodes back to the same bytes.
//!
//! The first byte chooses the entry's `n` field: below 200 it is that
//! number in decimal (so the fuzzer finds counts that fit), otherwise the
//! next `byte - 200` bytes as they are.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    if first < 200 {
        let _ = weir_redis::fuzzing::run(first.to_string().as_bytes(), rest);
    } else {
        let n = usize::from(first - 200).min(rest.len());
        let (count, data) = rest.split_at(n);
        let _ = weir_redis::fuzzing::run(count, data);
    }
});
