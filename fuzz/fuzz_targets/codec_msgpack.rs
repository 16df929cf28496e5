//! The MessagePack codec on arbitrary bytes: decoding returns a value or a
//! `CodecError`, never panics nor allocates what the input only claims; a
//! value it decodes encodes and decodes back to itself.
#![no_main]

mod shapes;

use libfuzzer_sys::fuzz_target;
use weir_core::{Codec, MsgPack};

fuzz_target!(|data: &[u8]| {
    let _ = MsgPack.decode::<Vec<shapes::Line>>(data);
    let _ = MsgPack.decode::<(String, bytes::Bytes, Option<u64>)>(data);
    if let Ok(order) = MsgPack.decode::<shapes::Order>(data) {
        let bytes = MsgPack.encode(&order).expect("a decoded value encodes");
        let again: shapes::Order = MsgPack.decode(&bytes).expect("its encoding decodes");
        if shapes::comparable(&order) {
            assert_eq!(again, order);
        }
    }
});
