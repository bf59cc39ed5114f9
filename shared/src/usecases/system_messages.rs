//! Messages from the system rather than a person: an application backend's notices ("Your
//! order shipped", "Ann joined the project"), published with an API key.

use crate::domain::UserId;
use crate::error::Error;

use super::messages::{MessageService, NewMessage, Sent};

impl MessageService {
    /// Stores a message from [`UserId::SYSTEM`] in any room that exists and is active, as
    /// durably as a member's and deduplicated the same way; no membership, mute or post policy
    /// applies to it.
    pub async fn send_as_system(&self, request: NewMessage) -> Result<Sent, Error> {
        let room = self.rooms.rooms.get(request.room).await?;
        if !room.is_some_and(|room| room.is_active) {
            return Err(Error::NotFound("room"));
        }
        self.store_new(UserId::SYSTEM, request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ClientMsgId, Content, MessageKind, Metadata, RoomId};
    use crate::usecases::testkit::Kit;

    fn notice(room: RoomId, client_id: &str) -> NewMessage {
        NewMessage {
            room,
            content: Content::parse("Your order shipped").unwrap(),
            kind: MessageKind::parse("notice").unwrap(),
            metadata: Metadata::default(),
            client_msg_id: Some(ClientMsgId::parse(client_id).unwrap()),
            first_attempt: false,
            reply_to: None,
        }
    }

    #[tokio::test]
    async fn the_system_posts_in_any_room_once_per_client_id_and_nowhere_that_does_not_exist() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let room = kit.group(ann, vec![]).await;
        let sent = kit.messages.send_as_system(notice(room, "order-1")).await.unwrap();
        assert_eq!((sent.message.sender_id, sent.duplicate), (UserId::SYSTEM, false));
        let again = kit.messages.send_as_system(notice(room, "order-1")).await.unwrap();
        assert_eq!((again.message.seq, again.duplicate), (sent.message.seq, true));

        let nowhere = kit.messages.send_as_system(notice(RoomId::generate(), "order-2")).await;
        assert!(matches!(nowhere, Err(Error::NotFound("room"))));
    }
}
