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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::usecases::testkit::Kit;

    #[tokio::test]
    async fn counts_wait_for_the_store_and_leave_out_what_came_after_their_point() {
        let kit = Kit::new();
        let (ann, bob, cat) = (kit.user("ann").await, kit.user("bob").await, kit.user("cat").await);
        let room = kit.group(ann, vec![bob]).await;
        let first = kit.send(ann, room, "one").await;
        kit.send(ann, room, "two").await;
        let (counts, ()) = tokio::join!(kit.messages.unread_counts(bob), async {
            tokio::time::sleep(Duration::from_millis(60)).await;
            kit.persist_all().await;
        });
        let counts = counts.unwrap();
        let seen: Vec<_> = counts.rooms.iter().map(|s| (s.room.id, s.unread_count)).collect();
        assert_eq!(seen, [(room, 2)]);

        let later = kit.send(ann, room, "three").await;
        kit.persist_all().await;
        assert!(later.seq > counts.through);
        let through = |reader, seq| kit.messages.unread_count_through(reader, room, seq);
        assert_eq!(through(bob, counts.through).await.unwrap(), Some(2));
        assert_eq!(through(bob, first.seq).await.unwrap(), Some(1));
        assert_eq!(through(cat, later.seq).await.unwrap(), None);
        assert_eq!(kit.messages.rooms().list_mine(bob).await.unwrap()[0].unread_count, 3);
    }
}
