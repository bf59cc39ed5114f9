//! Handing a room's messages and events to the connections that follow it, encoded once per
//! codec; a connection whose queue is full is marked too slow.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chat_shared::domain::{Entry, RoomId, Seq};
use chat_shared::ports::RoomEvent;
use chat_shared::protocol::{Codec, MemberChange, PresenceState, ServerFrame, encode, encode_entry_frame};
use tokio::sync::mpsc;

use super::subscriber::{MessageFrame, Outbound, Subscribers, ws_message};
use crate::hot_metrics;

pub(super) fn close_all(subscribers: &Subscribers) {
    let subscribers = subscribers.read().unwrap_or_else(|e| e.into_inner());
    subscribers.iter().for_each(|s| s.too_slow.cancel());
}

fn event_frame(room: RoomId, event: &RoomEvent) -> ServerFrame {
    match *event {
        RoomEvent::Presence { user_id, online } => ServerFrame::Presence {
            room,
            user_id,
            state: if online { PresenceState::Online } else { PresenceState::Offline },
        },
        RoomEvent::Typing { user_id } => ServerFrame::Typing { room, user_id },
        RoomEvent::Read { user_id, seq } => ServerFrame::Read { room, user_id, seq },
        RoomEvent::Member { user_id, added } => ServerFrame::Member {
            room,
            user_id,
            change: if added { MemberChange::Added } else { MemberChange::Removed },
            role: None,
        },
        RoomEvent::RoleChanged { user_id, role } => {
            ServerFrame::Member { room, user_id, change: MemberChange::Role, role: Some(role) }
        }
    }
}

/// Presence, typing and read events are for the others in the room; member events (added,
/// removed, role changed) are for everyone, and a removed member's connections stop following
/// the room.
pub(super) fn deliver_event(subscribers: &Subscribers, room: RoomId, event: &RoomEvent) {
    let (about, for_others) = match *event {
        RoomEvent::Presence { user_id, .. }
        | RoomEvent::Typing { user_id }
        | RoomEvent::Read { user_id, .. } => (user_id, true),
        RoomEvent::Member { user_id, .. } | RoomEvent::RoleChanged { user_id, .. } => (user_id, false),
    };
    let removed = matches!(event, RoomEvent::Member { added: false, .. });
    let frame = event_frame(room, event);
    let mut json: Option<Arc<Bytes>> = None;
    let mut msgpack: Option<Arc<Bytes>> = None;
    let subscribers = subscribers.read().unwrap_or_else(|e| e.into_inner());
    for subscriber in subscribers.iter() {
        if for_others && subscriber.user == about {
            continue;
        }
        let cache = match subscriber.codec {
            Codec::Json => &mut json,
            Codec::MsgPack => &mut msgpack,
        };
        let bytes = cache.get_or_insert_with(|| Arc::new(encode(subscriber.codec, &frame))).clone();
        let mut full = subscriber.queue.try_send(Outbound::Event(bytes)).is_err_and(is_full);
        if removed && subscriber.user == about {
            full |= subscriber.queue.try_send(Outbound::Removed(Box::new(room))).is_err_and(is_full);
        }
        if full {
            subscriber.too_slow.cancel();
        }
    }
}

fn is_full(err: mpsc::error::TrySendError<Outbound>) -> bool {
    matches!(err, mpsc::error::TrySendError::Full(_))
}

/// Delivers entries read back from the log: all of the room's entries after `last`, in order.
pub(super) fn deliver_in_order(subscribers: &Subscribers, entries: Vec<Entry>, last: Seq) {
    let mut previous = last;
    for entry in &entries {
        deliver(subscribers, entry, previous);
        previous = entry.seq();
    }
}

/// The entry encoded once for every recipient that speaks `codec`.
fn message_frame(codec: Codec, entry: &Entry, previous: Seq) -> Option<Arc<MessageFrame>> {
    let Some(frame) = ws_message(codec, encode_entry_frame(codec, entry)) else {
        tracing::error!(seq = entry.seq(), "an entry did not encode as a frame");
        return None;
    };
    let is_message = matches!(entry, Entry::Message(_));
    Some(Arc::new(MessageFrame { room: entry.room_id(), seq: entry.seq(), previous, is_message, frame }))
}

pub(super) fn deliver(subscribers: &Subscribers, message: &Entry, previous: Seq) {
    let started = Instant::now();
    let mut json: Option<Arc<MessageFrame>> = None;
    let mut msgpack: Option<Arc<MessageFrame>> = None;
    let subscribers = subscribers.read().unwrap_or_else(|e| e.into_inner());
    for subscriber in subscribers.iter() {
        let cache = match subscriber.codec {
            Codec::Json => &mut json,
            Codec::MsgPack => &mut msgpack,
        };
        if cache.is_none() {
            *cache = message_frame(subscriber.codec, message, previous);
        }
        let Some(frame) = cache else { continue };
        if let Err(mpsc::error::TrySendError::Full(_)) =
            subscriber.queue.try_send(Outbound::Message(frame.clone()))
        {
            subscriber.too_slow.cancel();
        }
    }
    hot_metrics::FANOUT_SECONDS.record(started.elapsed().as_secs_f64());
    hot_metrics::FANOUT_DELIVERIES.increment(subscribers.len() as u64);
}
