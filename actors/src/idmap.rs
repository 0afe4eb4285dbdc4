//! Maps keyed by 128-bit ids that are already uniformly random (SHA-256
//! prefixes, UUIDv4): hashing them again is wasted work on the hot path.

use std::hash::{BuildHasherDefault, Hasher};

use dashmap::DashMap;

#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only reached for non-u128 keys; fold bytes in (FNV-1a).
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = (v as u64) ^ ((v >> 64) as u64);
    }
}

pub type IdBuildHasher = BuildHasherDefault<IdHasher>;
pub type IdMap<V> = DashMap<u128, V, IdBuildHasher>;

pub fn new_map<V>() -> IdMap<V> {
    DashMap::with_hasher(IdBuildHasher::default())
}

/// A random 128-bit id (UUIDv4 bits).
pub fn new_id() -> u128 {
    uuid::Uuid::new_v4().as_u128()
}
