use super::*;
use crate::{IoMode, ShardSet};
use std::sync::mpsc;

#[test]
fn no_ring_to_self_and_full_ring_hands_message_back() {
    let mut eps = build::<u32>(2, 2);
    let ep = &mut eps[0];
    assert_eq!(ep.outbox.send(0, 1), Err(SendError::NoRoute(1)));
    assert_eq!(ep.outbox.send(5, 1), Err(SendError::NoRoute(1)));
    ep.outbox.send(1, 1).unwrap();
    ep.outbox.send(1, 2).unwrap();
    assert_eq!(ep.outbox.send(1, 3), Err(SendError::Full(3)));
    let mut got = Vec::new();
    assert_eq!(eps[1].inbox.drain(&mut got), 2);
    assert_eq!(got, vec![(0, 1), (0, 2)]);
}

/// Every message sent between real shard threads arrives once, in order per
/// sender, and a sleeping core is woken by a sender on another thread.
fn exchange_between_cores(mode: IoMode) {
    const N: u64 = 100_000;
    let eps = build::<u64>(3, 64);
    let (tx, rx) = mpsc::channel();
    let set = ShardSet::start(eps, mode, false, move |ctx, mut ep: Endpoint<u64>| {
        let tx = tx.clone();
        async move {
            if ctx.index == 0 {
                // Receiver: expects N from each of cores 1 and 2, in order.
                let mut next = [0u64; 3];
                let mut batch = Vec::new();
                let mut got = 0;
                while got < 2 * N {
                    batch.clear();
                    got += ep.inbox.recv_batch(&mut batch).await as u64;
                    for &(from, m) in &batch {
                        assert_eq!(m, next[from], "out of order from core {from}");
                        next[from] += 1;
                    }
                }
                tx.send(got).unwrap();
            } else {
                // Let the receiver fall asleep first, so wake-ups are exercised.
                monoio::time::sleep(std::time::Duration::from_millis(20)).await;
                let mut i = 0;
                while i < N {
                    match ep.outbox.send(0, i) {
                        Ok(()) => i += 1,
                        Err(SendError::Full(_)) => {
                            ep.outbox.flush();
                            monoio::time::sleep(std::time::Duration::from_micros(50)).await;
                        }
                        Err(e) => panic!("{e}"),
                    }
                    if i % 32 == 0 {
                        ep.outbox.flush();
                    }
                }
                ep.outbox.flush();
            }
        }
    })
    .unwrap();
    assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap(), 2 * N);
    assert_eq!(set.join(), 0);
}

#[test]
fn exchange_epoll() {
    exchange_between_cores(IoMode::Epoll);
}

#[test]
fn exchange_uring() {
    if !crate::runtime::uring_available() {
        eprintln!("SKIPPED: io_uring is not available on this machine");
        return;
    }
    exchange_between_cores(IoMode::Uring);
}
