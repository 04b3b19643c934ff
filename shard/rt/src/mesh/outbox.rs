//! The sending half of a core's mesh rings.

use std::fmt;
use std::sync::Arc;

use crate::doorbell::Doorbell;

/// Why a message could not be sent; the message is handed back.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError<T> {
    /// The ring to that core is full: flush and retry later (backpressure).
    Full(T),
    /// No such core, or the core itself.
    NoRoute(T),
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Full(_) => f.write_str("mesh ring full"),
            SendError::NoRoute(_) => f.write_str("no mesh route to that core"),
        }
    }
}

/// Rings from one core to every other core.
pub struct Outbox<T> {
    rings: Vec<Option<rtrb::Producer<T>>>,
    wakes: Vec<Arc<Doorbell>>,
    dirty: Vec<bool>,
}

impl<T> Outbox<T> {
    pub(super) fn new(rings: Vec<Option<rtrb::Producer<T>>>, wakes: Vec<Arc<Doorbell>>) -> Self {
        let n = rings.len();
        Outbox { rings, wakes, dirty: vec![false; n] }
    }

    /// Queues `msg` for core `to` without waking it; call [`Self::flush`]
    /// after the batch.
    pub fn send(&mut self, to: usize, msg: T) -> Result<(), SendError<T>> {
        let Some(Some(ring)) = self.rings.get_mut(to) else {
            return Err(SendError::NoRoute(msg));
        };
        match ring.push(msg) {
            Ok(()) => {
                self.dirty[to] = true;
                Ok(())
            }
            Err(rtrb::PushError::Full(m)) => Err(SendError::Full(m)),
        }
    }

    /// Wakes every core that received messages since the last flush and is
    /// asleep. One wake-up per sleeping core per batch, none for busy cores.
    pub fn flush(&mut self) {
        for (to, dirty) in self.dirty.iter_mut().enumerate() {
            if std::mem::take(dirty) {
                self.wakes[to].ring();
            }
        }
    }
}
