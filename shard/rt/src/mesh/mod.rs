//! The cross-core mesh: one bounded SPSC ring per ordered pair of cores.
//!
//! A core pushes messages into its [`Outbox`] and calls [`Outbox::flush`]
//! once per batch; the flush wakes a receiving core only when that core is
//! asleep in [`Inbox::recv_batch`]. The receiver drains all its rings in one
//! pass, so a busy core pays no syscall per message.

mod inbox;
mod outbox;

pub use inbox::Inbox;
pub use outbox::{Outbox, SendError};

use std::sync::Arc;

use crate::doorbell::Doorbell;

/// The two halves a single core holds.
pub struct Endpoint<T> {
    /// Rings towards every other core.
    pub outbox: Outbox<T>,
    /// Rings from every other core.
    pub inbox: Inbox<T>,
}

/// Builds the full mesh for `cores` cores with `capacity` slots per ring.
/// Endpoint `i` belongs to core `i`. A core has no ring to itself: local work
/// never needs the mesh.
pub fn build<T: Send>(cores: usize, capacity: usize) -> Vec<Endpoint<T>> {
    let wakes: Vec<Arc<Doorbell>> = (0..cores).map(|_| Arc::new(Doorbell::default())).collect();
    let mut producers: Vec<Vec<Option<rtrb::Producer<T>>>> = (0..cores).map(|_| Vec::new()).collect();
    let mut consumers: Vec<Vec<(usize, rtrb::Consumer<T>)>> = (0..cores).map(|_| Vec::new()).collect();
    for (from, row) in producers.iter_mut().enumerate() {
        for (to, inbound) in consumers.iter_mut().enumerate() {
            if from == to {
                row.push(None);
                continue;
            }
            let (p, c) = rtrb::RingBuffer::new(capacity);
            row.push(Some(p));
            inbound.push((from, c));
        }
    }
    producers
        .into_iter()
        .zip(consumers)
        .enumerate()
        .map(|(core, (rings_out, rings_in))| Endpoint {
            outbox: Outbox::new(rings_out, wakes.clone()),
            inbox: Inbox::new(rings_in, Arc::clone(&wakes[core])),
        })
        .collect()
}

#[cfg(test)]
mod tests;
