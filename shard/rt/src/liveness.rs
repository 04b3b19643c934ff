//! Whether a background thread still runs, for health checks: its guard
//! sets a flag when made and clears it when dropped, whether the thread
//! returned or panicked.

use std::sync::atomic::{AtomicBool, Ordering};

/// Keeps `flag` true while alive.
pub struct AliveGuard<'a>(&'a AtomicBool);

impl<'a> AliveGuard<'a> {
    /// Sets `flag`; it is cleared when the guard drops.
    pub fn new(flag: &'a AtomicBool) -> Self {
        flag.store(true, Ordering::Relaxed);
        AliveGuard(flag)
    }
}

impl Drop for AliveGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleared_on_panic() {
        let flag = std::sync::Arc::new(AtomicBool::new(false));
        let f = std::sync::Arc::clone(&flag);
        let r = std::thread::spawn(move || {
            let _alive = AliveGuard::new(&f);
            assert!(f.load(Ordering::Relaxed));
            panic!("boom");
        })
        .join();
        assert!(r.is_err());
        assert!(!flag.load(Ordering::Relaxed));
    }
}
