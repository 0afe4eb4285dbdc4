//! Fault injection, so durability tests can make the disk "fill up" on
//! demand without filling one.

use std::sync::atomic::AtomicBool;

/// Fault injection for durability tests: when set, every flush fails as a
/// full disk would.
#[derive(Debug, Default)]
pub struct Faults {
    pub fail_flush: AtomicBool,
}
