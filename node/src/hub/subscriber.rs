//! A connection as the hub sees it, and what the hub hands it.

use std::sync::{Arc, RwLock};

use axum::extract::ws::{Message as WsMessage, Utf8Bytes};
use bytes::Bytes;
use chat_shared::domain::{RoomId, Seq, UserId};
use chat_shared::protocol::Codec;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What the hub pushes into a connection's queue. Two words: a queue allocates its first
/// 32 slots when it is made, so every byte here costs 32 on every idle connection.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A room's message, shared by every connection with the same codec.
    Message(Arc<MessageFrame>),
    /// A room event (presence, typing, read, member), encoded.
    Event(Arc<Bytes>),
    /// The connection's user was removed from the room: it follows the room no more.
    Removed(Box<RoomId>),
}

/// A room's message, already encoded for one codec and made a socket message: every recipient
/// sends the same bytes, checked once. `previous` is the seq of the room's message before it
/// (0 for the first): a connection that has not been given that one has a gap to fill first.
#[derive(Debug)]
pub struct MessageFrame {
    pub room: RoomId,
    pub seq: Seq,
    pub previous: Seq,
    /// Whether the entry is a new message (not a change to one, nor a reaction).
    pub is_message: bool,
    pub frame: WsMessage,
}

/// A connection as the hub sees it.
#[derive(Clone)]
pub struct Subscriber {
    pub id: u64,
    pub user: UserId,
    pub codec: Codec,
    pub queue: mpsc::Sender<Outbound>,
    /// Cancelled by the hub when the connection's queue overflows: it reads too slowly.
    pub too_slow: CancellationToken,
}

pub(super) type Subscribers = Arc<RwLock<Vec<Subscriber>>>;

pub(super) fn write(subscribers: &Subscribers) -> std::sync::RwLockWriteGuard<'_, Vec<Subscriber>> {
    subscribers.write().unwrap_or_else(|e| e.into_inner())
}

/// An encoded frame as the socket sends it: text for JSON (checked to be UTF-8 here), binary for
/// MessagePack. `None` for no bytes, or JSON that is not UTF-8 (serde_json writes none).
pub fn ws_message(codec: Codec, frame: Bytes) -> Option<WsMessage> {
    if frame.is_empty() {
        return None;
    }
    Some(match codec {
        Codec::Json => WsMessage::Text(Utf8Bytes::try_from(frame).ok()?),
        Codec::MsgPack => WsMessage::Binary(frame),
    })
}
