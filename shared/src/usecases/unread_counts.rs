//! A user's unread counts as of a known point of the log, from which live messages take over.

use crate::domain::{RoomId, RoomSummary, Seq, UserId};
use crate::error::Error;

use super::messages::MessageService;
use super::rooms::RoomService;

/// The user's rooms with their unread counts, counting exactly the messages up to `through`:
/// every later message is still to come live to whoever followed the rooms before asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadCounts {
    pub rooms: Vec<RoomSummary>,
    pub through: Seq,
}

impl MessageService {
    /// The rooms the messages are in.
    pub fn rooms(&self) -> &RoomService {
        &self.rooms
    }

    /// The reader's counts once the store holds every entry the log held when asked: waits
    /// for the persister (`Unavailable` after 10 s, when it is down).
    pub async fn unread_counts(&self, reader: UserId) -> Result<UnreadCounts, Error> {
        let through = self.wait_until_stored().await?;
        let rooms = self.rooms.rooms.rooms_of_through(reader, through).await?;
        Ok(UnreadCounts { rooms, through })
    }

    /// The reader's count of one room up to `through` (an earlier [`UnreadCounts::through`]);
    /// `None` when they are no longer in it.
    pub async fn unread_count_through(
        &self,
        reader: UserId,
        room: RoomId,
        through: Seq,
    ) -> Result<Option<u64>, Error> {
        let rooms = self.rooms.rooms.rooms_of_through(reader, through).await?;
        Ok(rooms.into_iter().find(|summary| summary.room.id == room).map(|summary| summary.unread_count))
    }
}
