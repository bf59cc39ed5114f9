use std::pin::Pin;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::Stream;
use serde::{Deserialize, Serialize};

use super::errors::BoxError;
use crate::domain::{Room, RoomId, RoomSummary, Seq, SocketId, UserId};

/// The failure of the user feed. Like room events, the feed is best effort: the change it
/// announces is stored either way, and a client that missed an event re-reads its rooms.
#[derive(Debug, thiserror::Error)]
#[error("user feed unavailable")]
pub struct FeedError(#[source] pub BoxError);

impl FeedError {
    pub fn new(err: impl Into<BoxError>) -> Self {
        Self(err.into())
    }
}

/// Something about one user that every socket of theirs hears, whichever rooms it follows:
/// changes to their room list and their own read markers. Never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum UserEvent {
    /// The user became a participant: added, joined a channel, or in a direct room made with
    /// them. The room as their room list shows it.
    RoomAdded { room: RoomSummary },
    /// The user is no longer a participant (removed, banned, or left from another device).
    RoomRemoved {
        room_id: RoomId,
        #[serde(default)]
        banned: bool,
    },
    /// A moderator muted the user in a room until `until`, or unmuted them (`None`).
    Muted { room_id: RoomId, until: Option<DateTime<Utc>> },
    /// A room of theirs was renamed or its topic changed.
    RoomUpdated { room: Room },
    /// Their read marker of a room moved; `origin` is the socket that moved it, which knows.
    Read { room_id: RoomId, seq: Seq, origin: Option<SocketId> },
}

pub type UserEventStream = Pin<Box<dyn Stream<Item = UserEvent> + Send>>;

/// Carries each user's events to every node that holds a socket of theirs (core NATS in a
/// cluster, a channel within the process when embedded).
#[async_trait]
pub trait UserFeed: Send + Sync {
    async fn publish(&self, user: UserId, event: &UserEvent) -> Result<(), FeedError>;

    /// Starts receiving the user's events. Once this returns, every event published after it
    /// arrives (the subscription is in place at the bus, not only requested). Dropping the
    /// stream ends the subscription.
    async fn subscribe(&self, user: UserId) -> Result<UserEventStream, FeedError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_error_says_what_failed_and_keeps_why() {
        let err = FeedError::new(std::io::Error::other("connection reset"));
        assert_eq!(err.to_string(), "user feed unavailable");
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("connection reset"));
    }
}
