//! Types the codec targets decode into: the shapes Weir's messages take
//! (numbers, strings, bytes, options, lists, maps, enums, nesting).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub enum Kind {
    Plain,
    Tagged(String),
    Pair(u8, i64),
    Named { weight: f32, retries: Option<u32> },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
    pub item: String,
    pub quantity: i32,
    pub price: f64,
    pub body: bytes::Bytes,
    pub note: Option<String>,
    pub tags: Vec<String>,
    pub attributes: BTreeMap<String, u16>,
    pub kind: Kind,
    pub lines: Vec<Line>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub sku: String,
    pub count: u32,
    pub unique: bool,
}

/// Whether a float field round-trips with `==` (NaN does not).
pub fn comparable(o: &Order) -> bool {
    !o.price.is_nan()
        && match o.kind {
            Kind::Named { weight, .. } => !weight.is_nan(),
            _ => true,
        }
}
