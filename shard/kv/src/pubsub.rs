//! Pub/sub on one core: which of this core's connections listen to which
//! channels and patterns, and their mailboxes. PUBLISH reaches every core
//! (each delivers to its own subscribers), so a message finds its
//! subscribers wherever they are connected.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::{Rc, Weak};
use std::task::{Poll, Waker};

use bytes::Bytes;
use hashbrown::HashMap;

use super::glob_match;

/// A delivered message: the pattern that matched (PSUBSCRIBE), the channel
/// and the payload.
pub type Message = (Option<Bytes>, Bytes, Bytes);

/// A subscribed connection's queue of delivered messages.
#[derive(Default)]
pub struct Mailbox {
    queue: RefCell<VecDeque<Message>>,
    waker: RefCell<Option<Waker>>,
}

impl Mailbox {
    /// Takes every queued message.
    pub fn drain(&self) -> Vec<Message> {
        self.queue.borrow_mut().drain(..).collect()
    }

    /// Resolves once a message is queued.
    pub async fn ready(&self) {
        poll_fn(|cx| {
            if self.queue.borrow().is_empty() {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await
    }

    fn push(&self, m: Message) {
        self.queue.borrow_mut().push_back(m);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

/// One core's subscriptions.
#[derive(Default)]
pub struct PubSub {
    channels: RefCell<HashMap<Bytes, Vec<Weak<Mailbox>>>>,
    patterns: RefCell<Vec<(Bytes, Weak<Mailbox>)>>,
}

impl PubSub {
    /// Subscribes `mb` to `channel`; false if it already was.
    pub fn subscribe(&self, channel: &Bytes, mb: &Rc<Mailbox>) -> bool {
        let mut channels = self.channels.borrow_mut();
        let subs = channels.entry(channel.clone()).or_default();
        if subs.iter().any(|w| w.as_ptr() == Rc::as_ptr(mb)) {
            return false;
        }
        subs.push(Rc::downgrade(mb));
        true
    }

    /// Unsubscribes `mb` from `channel`; false if it was not subscribed.
    pub fn unsubscribe(&self, channel: &[u8], mb: &Rc<Mailbox>) -> bool {
        let mut channels = self.channels.borrow_mut();
        let Some(subs) = channels.get_mut(channel) else { return false };
        let before = subs.len();
        subs.retain(|w| w.as_ptr() != Rc::as_ptr(mb) && w.strong_count() > 0);
        let removed = subs.len() < before;
        if subs.is_empty() {
            channels.remove(channel);
        }
        removed
    }

    /// Subscribes `mb` to channels matching `pattern`.
    pub fn psubscribe(&self, pattern: &Bytes, mb: &Rc<Mailbox>) -> bool {
        let mut patterns = self.patterns.borrow_mut();
        if patterns.iter().any(|(p, w)| p == pattern && w.as_ptr() == Rc::as_ptr(mb)) {
            return false;
        }
        patterns.push((pattern.clone(), Rc::downgrade(mb)));
        true
    }

    /// Removes `mb`'s subscription to `pattern`.
    pub fn punsubscribe(&self, pattern: &[u8], mb: &Rc<Mailbox>) -> bool {
        let mut patterns = self.patterns.borrow_mut();
        let before = patterns.len();
        patterns.retain(|(p, w)| !(p == pattern && w.as_ptr() == Rc::as_ptr(mb)) && w.strong_count() > 0);
        patterns.len() < before
    }

    /// Delivers to this core's subscribers; returns how many received it.
    pub fn deliver(&self, channel: &Bytes, message: &Bytes) -> usize {
        let mut n = 0;
        if let Some(subs) = self.channels.borrow().get(channel) {
            for mb in subs.iter().filter_map(Weak::upgrade) {
                mb.push((None, channel.clone(), message.clone()));
                n += 1;
            }
        }
        for (p, w) in self.patterns.borrow().iter() {
            if let Some(mb) = w.upgrade() {
                if glob_match(p, channel) {
                    mb.push((Some(p.clone()), channel.clone(), message.clone()));
                    n += 1;
                }
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_and_patterns() {
        let ps = PubSub::default();
        let (a, b) = (Rc::new(Mailbox::default()), Rc::new(Mailbox::default()));
        let news = Bytes::from_static(b"news.tech");
        assert!(ps.subscribe(&news, &a));
        assert!(!ps.subscribe(&news, &a));
        assert!(ps.psubscribe(&Bytes::from_static(b"news.*"), &b));
        assert_eq!(ps.deliver(&news, &Bytes::from_static(b"hi")), 2);
        assert_eq!(a.drain(), vec![(None, news.clone(), Bytes::from_static(b"hi"))]);
        assert_eq!(b.drain()[0].0.as_deref(), Some(&b"news.*"[..]));
        assert!(ps.unsubscribe(&news, &a));
        drop(b);
        assert_eq!(ps.deliver(&news, &Bytes::from_static(b"x")), 0);
    }
}
