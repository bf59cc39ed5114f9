//! Each user's feed over core NATS, on `{P}.users.<user>`: a node subscribes to the users it
//! holds sockets of, so an event reaches only the nodes that need it.

use std::time::Duration;

use async_trait::async_trait;
use chat_shared::domain::UserId;
use chat_shared::ports::{FeedError, UserEvent, UserEventStream, UserFeed};
use futures::StreamExt;

use super::log::NatsLog;

/// How long a subscription waits for the server to confirm it before going on unconfirmed
/// (while NATS is unreachable the client sends it once reconnected).
const CONFIRM_WITHIN: Duration = Duration::from_secs(2);

/// The user feed of a deployment: the same connection and prefix as its message log.
#[derive(Clone)]
pub struct NatsUserFeed {
    log: NatsLog,
}

impl NatsUserFeed {
    pub fn new(log: NatsLog) -> Self {
        Self { log }
    }
}

#[async_trait]
impl UserFeed for NatsUserFeed {
    async fn publish(&self, user: UserId, event: &UserEvent) -> Result<(), FeedError> {
        let subject = self.log.names.user(&user.to_string()).map_err(FeedError::new)?;
        let payload = rmp_serde::to_vec_named(event).map_err(FeedError::new)?;
        self.log.client.publish(subject, payload.into()).await.map_err(FeedError::new)
    }

    async fn subscribe(&self, user: UserId) -> Result<UserEventStream, FeedError> {
        let subject = self.log.names.user(&user.to_string()).map_err(FeedError::new)?;
        let subscriber = self.log.client.subscribe(subject).await.map_err(FeedError::new)?;
        // The server handles a connection's commands in order: once it answers the flush's
        // ping, the subscription is in place, and whatever is published after reaches it.
        match tokio::time::timeout(CONFIRM_WITHIN, self.log.client.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(%user, error = %err, "user feed subscription not confirmed"),
            Err(_) => tracing::warn!(%user, "user feed subscription not confirmed in time"),
        }
        let events = subscriber.filter_map(|message| async move {
            match rmp_serde::from_slice::<UserEvent>(&message.payload) {
                Ok(event) => Some(event),
                Err(err) => {
                    tracing::warn!(subject = %message.subject, error = %err, "skipped an unreadable user event");
                    None
                }
            }
        });
        Ok(Box::pin(events))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chat_shared::domain::{
        PostPolicy, Role, Room, RoomId, RoomName, RoomSummary, RoomTopic, RoomType, SocketId,
    };

    use super::*;
    use crate::nats::testing::TestLog;

    fn summary() -> RoomSummary {
        RoomSummary {
            room: Room {
                id: RoomId::generate(),
                name: RoomName::parse("team").unwrap(),
                topic: Some(RoomTopic::parse("plans").unwrap()),
                post_policy: PostPolicy::Admins,
                room_type: RoomType::Group,
                created_by: UserId::generate(),
                created_at: chrono::Utc::now(),
                is_active: true,
            },
            role: Role::Admin,
            last_read_seq: 7,
            unread_count: 3,
            muted_until: Some(chrono::Utc::now()),
        }
    }

    #[tokio::test]
    async fn every_kind_of_event_reaches_its_users_subscribers_only_and_intact() {
        let log = TestLog::start().await;
        let feed = NatsUserFeed::new((*log).clone());
        let (ann, bob) = (UserId::generate(), UserId::generate());
        let mut anns = feed.subscribe(ann).await.unwrap();
        let mut bobs = feed.subscribe(bob).await.unwrap();
        let room = summary();
        let events = [
            UserEvent::RoomAdded { room: room.clone() },
            UserEvent::RoomUpdated { room: room.room.clone() },
            UserEvent::Read { room_id: room.room.id, seq: 9, origin: Some(SocketId::generate()) },
            UserEvent::Read { room_id: room.room.id, seq: 10, origin: None },
            UserEvent::RoomRemoved { room_id: room.room.id, banned: true },
            UserEvent::Muted { room_id: room.room.id, until: Some(chrono::Utc::now()) },
            UserEvent::Muted { room_id: room.room.id, until: None },
        ];
        for event in &events {
            feed.publish(ann, event).await.unwrap();
        }
        for event in events {
            let got = tokio::time::timeout(Duration::from_secs(2), anns.next()).await.unwrap();
            assert_eq!(got, Some(event));
        }
        assert!(tokio::time::timeout(Duration::from_millis(200), bobs.next()).await.is_err());
    }

    #[tokio::test]
    async fn something_unreadable_on_a_users_subject_is_skipped_and_later_events_still_arrive() {
        let log = TestLog::start().await;
        let feed = NatsUserFeed::new((*log).clone());
        let ann = UserId::generate();
        let mut anns = feed.subscribe(ann).await.unwrap();
        let subject = log.names.user(&ann.to_string()).unwrap();
        log.client.publish(subject, "not MessagePack".into()).await.unwrap();
        let event = UserEvent::RoomRemoved { room_id: RoomId::generate(), banned: false };

        feed.publish(ann, &event).await.unwrap();

        let got = tokio::time::timeout(Duration::from_secs(2), anns.next()).await.unwrap();
        assert_eq!(got, Some(event));
    }
}
