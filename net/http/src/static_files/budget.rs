//! A per-core budget for file contents kept in memory.

use std::cell::Cell;

/// Bytes a core may still spend on cached file contents and variants.
#[derive(Debug)]
pub struct MemoryBudget {
    left: Cell<u64>,
}

impl MemoryBudget {
    /// A budget of `bytes`.
    pub fn new(bytes: u64) -> Self {
        MemoryBudget { left: Cell::new(bytes) }
    }

    /// Takes `n` bytes if that many are left.
    pub fn try_take(&self, n: u64) -> bool {
        let left = self.left.get();
        if n <= left {
            self.left.set(left - n);
            true
        } else {
            false
        }
    }

    /// Returns `n` bytes to the budget.
    pub fn give(&self, n: u64) {
        self.left.set(self.left.get() + n);
    }
}
