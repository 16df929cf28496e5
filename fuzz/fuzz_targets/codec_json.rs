//! The JSON codec on arbitrary bytes: decoding returns a value or a
//! `CodecError`, never panics; a value it decodes encodes and decodes back
//! to itself.
#![no_main]

mod shapes;

use libfuzzer_sys::fuzz_target;
use weir_core::{Codec, Json};

fuzz_target!(|data: &[u8]| {
    let _ = Json.decode::<Vec<shapes::Line>>(data);
    if let Ok(order) = Json.decode::<shapes::Order>(data) {
        let bytes = Json.encode(&order).expect("a decoded value encodes");
        let again: shapes::Order = Json.decode(&bytes).expect("its encoding decodes");
        if shapes::comparable(&order) && order.price.is_finite() {
            assert_eq!(again.lines, order.lines);
            assert_eq!(again.tags, order.tags);
            assert_eq!(again.body, order.body);
        }
    }
});
