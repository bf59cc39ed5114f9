use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use futures::Stream;
use serde::{Deserialize, Serialize};

use super::errors::BoxError;
use crate::domain::{Role, RoomId, Seq, UserId};

/// The failure of the presence store or the event bus. Presence is best effort: callers log
/// and count it, and messaging goes on.
#[derive(Debug, thiserror::Error)]
#[error("presence unavailable")]
pub struct PresenceError(#[source] pub BoxError);

impl PresenceError {
    pub fn new(err: impl Into<BoxError>) -> Self {
        Self(err.into())
    }
}

/// Who is online in which room, shared by every node (Redis in a cluster). Each node owns its
/// own entries and keeps them alive with heartbeats; a node that stops beating is swept by the
/// others, so its users do not stay online as ghosts.
/// Whether a user was online in a room (on any node) before a change of presence, and is after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnlineChange {
    pub before: bool,
    pub after: bool,
}

#[async_trait]
pub trait PresenceStore: Send + Sync {
    /// Sets how many connections this node holds for `user` in `room` (0 removes the entry).
    /// Returns whether the user was online in the room on any node before, and is after.
    /// Absolute rather than incremental, so a node can rewrite all its entries at any time
    /// (after the store lost them) without counting anything twice.
    async fn set(&self, room: RoomId, user: UserId, connections: u32) -> Result<OnlineChange, PresenceError>;

    async fn is_online(&self, room: RoomId, user: UserId) -> Result<bool, PresenceError>;

    /// Up to `limit` of the users online in the room, and how many there are in all.
    async fn online(&self, room: RoomId, limit: usize) -> Result<(Vec<UserId>, u64), PresenceError>;

    /// Marks this node alive for `ttl` from now.
    async fn heartbeat(&self, ttl: Duration) -> Result<(), PresenceError>;

    /// Removes every entry of nodes whose heartbeat expired and returns the (room, user) pairs
    /// that are offline as a result. Safe to run on every node at once: each dead node is
    /// swept by one of them.
    async fn sweep_dead_nodes(&self) -> Result<Vec<(RoomId, UserId)>, PresenceError>;
}

/// Something that happened in a room that only those watching it now need to know: never
/// stored, delivered at most once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RoomEvent {
    Presence {
        user_id: UserId,
        online: bool,
    },
    Typing {
        user_id: UserId,
    },
    Read {
        user_id: UserId,
        seq: Seq,
    },
    Member {
        user_id: UserId,
        added: bool,
    },
    /// The owner made a member an admin or a member again.
    RoleChanged {
        user_id: UserId,
        role: Role,
    },
}

pub type EventStream = Pin<Box<dyn Stream<Item = RoomEvent> + Send>>;

/// Carries room events to every node that watches the room (core NATS in a cluster).
#[async_trait]
pub trait EventBus: Send + Sync {
    async fn publish(&self, room: RoomId, event: &RoomEvent) -> Result<(), PresenceError>;

    /// Starts receiving the room's events. Dropping the stream ends the subscription.
    async fn subscribe(&self, room: RoomId) -> Result<EventStream, PresenceError>;
}
