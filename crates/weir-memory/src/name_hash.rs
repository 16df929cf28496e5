//! A fast hash for the broker's own maps keyed by topic.
//!
//! Every produce call looks its topic up. The standard library's SipHash
//! resists collision attacks from untrusted keys, at a price that showed as
//! a tenth of a produce call; topics are the application's own (a topic must
//! be created before anything is sent to it), so a simple multiplicative
//! hash (rustc's "Fx" hash) serves. A topic hashes as the one address its
//! interned name is stored at, so a lookup mixes a single word (bytes
//! written any other way are taken eight at a time).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` hashed with [`NameHasher`].
pub(crate) type NameMap<K, V> = HashMap<K, V, BuildHasherDefault<NameHasher>>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// The hasher of [`NameMap`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct NameHasher {
    hash: u64,
}

impl NameHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for NameHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            self.add(u64::from_le_bytes(b));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b));
        }
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use weir_core::Topic;

    use super::*;

    fn hash(t: &Topic) -> u64 {
        BuildHasherDefault::<NameHasher>::default().hash_one(t)
    }

    #[test]
    fn names_differing_anywhere_hash_apart() {
        let names = [
            "orders",
            "orders2",
            "ordert",
            "a-topic-name-longer-than-8",
            "a-topic-name-longer-than-9",
            "",
        ];
        let hashes: std::collections::BTreeSet<u64> =
            names.iter().map(|n| hash(&Topic::new(n))).collect();
        assert_eq!(hashes.len(), names.len());
        assert_eq!(
            hash(&Topic::new("orders")),
            hash(&Topic::new(String::from("orders")))
        );
    }

    #[test]
    fn a_map_finds_its_topics() {
        let mut m: NameMap<Topic, usize> = NameMap::default();
        for i in 0..100 {
            m.insert(Topic::new(format!("t{i}")), i);
        }
        assert!((0..100).all(|i| m.get(&Topic::new(format!("t{i}"))) == Some(&i)));
        assert_eq!(m.get(&Topic::new("t100")), None);
    }
}
