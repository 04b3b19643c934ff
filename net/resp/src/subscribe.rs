//! The pub/sub commands of a connection: (P)SUBSCRIBE, (P)UNSUBSCRIBE, and
//! writing the messages its mailbox received.

use bytes::Bytes;
use ephpm_kv::Reply;

use super::conn::{RespContext, Session};
use super::writer;

/// SUBSCRIBE / PSUBSCRIBE: one confirmation per channel or pattern.
pub(super) fn subscribe(ctx: &RespContext, session: &mut Session, name: &str, targets: &[Bytes], out: &mut Vec<u8>) {
    let mb = session.mailbox.get_or_insert_with(Default::default).clone();
    let pattern = name == "PSUBSCRIBE";
    for t in targets {
        let added = if pattern { ctx.node.pubsub.psubscribe(t, &mb) } else { ctx.node.pubsub.subscribe(t, &mb) };
        if added {
            if pattern {
                session.patterns.push(t.clone())
            } else {
                session.channels.push(t.clone())
            }
        }
        let kind: &[u8] = if pattern { b"psubscribe" } else { b"subscribe" };
        let count = Reply::Int(session.subscriptions() as i64);
        writer::write_push(out, &[Reply::bulk(kind), Reply::Bulk(t.clone()), count], session.resp3);
    }
}

/// UNSUBSCRIBE / PUNSUBSCRIBE, of the given ones or of all.
pub(super) fn unsubscribe(ctx: &RespContext, session: &mut Session, name: &str, targets: &[Bytes], out: &mut Vec<u8>) {
    let pattern = name == "PUNSUBSCRIBE";
    let kind: &[u8] = if pattern { b"punsubscribe" } else { b"unsubscribe" };
    let current = if pattern { session.patterns.clone() } else { session.channels.clone() };
    let targets: Vec<Bytes> = if targets.is_empty() { current } else { targets.to_vec() };
    if targets.is_empty() {
        let count = Reply::Int(session.subscriptions() as i64);
        writer::write_push(out, &[Reply::bulk(kind), Reply::Nil, count], session.resp3);
        return;
    }
    for t in targets {
        if let Some(mb) = &session.mailbox {
            if pattern {
                ctx.node.pubsub.punsubscribe(&t, mb);
                session.patterns.retain(|p| *p != t);
            } else {
                ctx.node.pubsub.unsubscribe(&t, mb);
                session.channels.retain(|c| *c != t);
            }
        }
        let count = Reply::Int(session.subscriptions() as i64);
        writer::write_push(out, &[Reply::bulk(kind), Reply::Bulk(t), count], session.resp3);
    }
}

/// Writes the messages waiting in a subscribed connection's mailbox.
pub fn write_messages(mb: &ephpm_kv::pubsub::Mailbox, session: &Session, out: &mut Vec<u8>) {
    for (pattern, channel, message) in mb.drain() {
        match pattern {
            Some(p) => writer::write_push(
                out,
                &[Reply::bulk(b"pmessage"), Reply::Bulk(p), Reply::Bulk(channel), Reply::Bulk(message)],
                session.resp3,
            ),
            None => writer::write_push(
                out,
                &[Reply::bulk(b"message"), Reply::Bulk(channel), Reply::Bulk(message)],
                session.resp3,
            ),
        }
    }
}
