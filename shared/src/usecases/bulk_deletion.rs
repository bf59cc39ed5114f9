//! Deleting everything one user wrote, as an administrator cleaning up after an abusive
//! account: each message deleted as a room's owner deletes one (a change appended to its
//! room's log, delivered live, redacted at rest), a page at a time.

use std::time::Duration;

use crate::domain::{Change, ChangeKind, SentCursor, Seq, UserId};
use crate::error::Error;
use crate::ports::MessageRef;

use super::messages::MessageService;

/// The most messages one page deletes, and how many it deletes unless asked.
pub const MAX_BULK_DELETION: usize = 500;
pub const DEFAULT_BULK_DELETION: usize = 100;

/// How long a first page waits for the store to hold what the log held when it began: the
/// persister is normally milliseconds behind, so a longer wait means it is down.
const STORE_CATCH_UP: Duration = Duration::from_secs(10);
const STORE_POLL: Duration = Duration::from_millis(20);

/// What a page of a bulk deletion did; `next` goes on from where it stopped, `None` once every
/// message has been seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkDeletion {
    pub deleted: u64,
    pub next: Option<SentCursor>,
}

impl MessageService {
    /// Deletes, as `actor`, up to `limit` of `sender`'s messages after `after`, room by room.
    /// A first page (no `after`) first waits until the store holds every entry the log held
    /// when it began, so that the pages together cover every message acknowledged before it.
    pub(super) async fn delete_sent_by(
        &self,
        actor: UserId,
        sender: UserId,
        after: Option<SentCursor>,
        limit: usize,
    ) -> Result<BulkDeletion, Error> {
        if after.is_none() {
            self.wait_until_stored().await?;
        }
        let found = self.store.sent_by(sender, after, limit).await?;
        let mut deleted = 0;
        for at in &found {
            // The store may not have folded in a deletion the log holds already.
            let current = self.current(at.room, MessageRef::Seq(at.seq)).await?;
            let Some(current) = current.filter(|m| !m.deleted && m.sender_id == sender) else { continue };
            let tombstone = current.tombstone(actor, self.clock.now());
            let change = Change {
                kind: ChangeKind::Deleted,
                seq: 0,
                actor,
                client_change_id: None,
                message: tombstone,
            };
            if self.store_change(change).await?.change.is_some() {
                deleted += 1;
            }
        }
        let next = if found.len() == limit { found.last().copied() } else { None };
        Ok(BulkDeletion { deleted, next })
    }

    /// Waits until the store holds every entry the log holds now, and returns the newest seq
    /// it then holds for sure.
    pub(super) async fn wait_until_stored(&self) -> Result<Seq, Error> {
        let head = self.log.head().await?;
        let deadline = tokio::time::Instant::now() + STORE_CATCH_UP;
        while self.log.persisted_through().await? < head {
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Unavailable(
                    "the message store is behind the log; try again later".into(),
                ));
            }
            tokio::time::sleep(STORE_POLL).await;
        }
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RoomId;
    use crate::ports::PageQuery;
    use crate::usecases::testkit::Kit;

    /// The room's messages as `reader` pages them: (content, deleted).
    async fn history(kit: &Kit, reader: UserId, room: RoomId) -> Vec<(String, bool)> {
        let query = PageQuery { before: None, after: None, limit: 50 };
        let page = kit.messages.history(reader, room, query).await.unwrap().messages;
        page.into_iter().map(|m| (m.content.as_str().to_owned(), m.deleted)).collect()
    }

    fn texts(pairs: &[(&str, bool)]) -> Vec<(String, bool)> {
        pairs.iter().map(|(text, deleted)| ((*text).to_owned(), *deleted)).collect()
    }

    #[tokio::test]
    async fn pages_delete_every_message_of_the_sender_in_every_room_and_nothing_else() {
        let kit = Kit::new();
        let (root, bob, carol) = (kit.user("root").await, kit.user("bob").await, kit.user("carol").await);
        let (first, second) = (kit.group(carol, vec![bob]).await, kit.group(bob, vec![carol]).await);
        kit.send(bob, first, "spam 1").await;
        kit.send(carol, first, "hello").await;
        kit.send(bob, first, "spam 2").await;
        kit.send(bob, second, "spam 3").await;
        kit.persist_all().await;

        let page = kit.messages.delete_sent_by(root, bob, None, 2).await.unwrap();
        assert_eq!(page.deleted, 2);
        let next = page.next.expect("a full page goes on");
        let page = kit.messages.delete_sent_by(root, bob, Some(next), 2).await.unwrap();
        assert_eq!(page, BulkDeletion { deleted: 1, next: None });

        let tombstone = ("", true);
        assert_eq!(history(&kit, carol, first).await, texts(&[tombstone, ("hello", false), tombstone]));
        assert_eq!(history(&kit, carol, second).await, texts(&[tombstone]));
        kit.persist_all().await;
        assert_eq!(history(&kit, carol, first).await, texts(&[tombstone, ("hello", false), tombstone]));
        let again = kit.messages.delete_sent_by(root, bob, None, 2).await.unwrap();
        assert_eq!(again, BulkDeletion { deleted: 0, next: None }, "nothing of bob's is left");
    }

    #[tokio::test]
    async fn a_message_deleted_since_the_store_last_heard_is_not_deleted_twice() {
        let kit = Kit::new();
        let (root, bob) = (kit.user("root").await, kit.user("bob").await);
        let room = kit.group(bob, vec![]).await;
        kit.send(bob, room, "one").await;
        let second = kit.send(bob, room, "two").await;
        kit.persist_all().await;

        let page = kit.messages.delete_sent_by(root, bob, None, 1).await.unwrap();
        assert_eq!(page.deleted, 1);
        // Bob deletes his other message himself; the store does not know yet.
        let target = crate::ports::MessageRef::Seq(second.seq);
        kit.messages.delete(bob, room, target, None).await.unwrap();
        let entries = kit.log.all().len();
        let page = kit.messages.delete_sent_by(root, bob, page.next, 1).await.unwrap();
        assert_eq!(page.deleted, 0);
        assert_eq!(kit.log.all().len(), entries, "no second deletion appended");
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_page_waits_for_the_store_and_gives_up_when_it_stays_behind() {
        let kit = Kit::new();
        let (root, bob) = (kit.user("root").await, kit.user("bob").await);
        let room = kit.group(bob, vec![]).await;
        kit.send(bob, room, "not stored yet").await;

        let behind = kit.messages.delete_sent_by(root, bob, None, 10).await;
        assert!(matches!(behind, Err(Error::Unavailable(_))), "{behind:?}");

        let (page, ()) = tokio::join!(kit.messages.delete_sent_by(root, bob, None, 10), async {
            tokio::time::sleep(STORE_POLL * 3).await;
            kit.persist_all().await;
        });
        assert_eq!(page.unwrap(), BulkDeletion { deleted: 1, next: None });
    }
}
