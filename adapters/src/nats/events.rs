//! Room events over core NATS, on `{P}.events.<room>`: fire and forget, like the events
//! themselves (presence, typing, read markers, membership).

use async_trait::async_trait;
use chat_shared::domain::RoomId;
use chat_shared::ports::{EventBus, EventStream, PresenceError, RoomEvent};
use futures::StreamExt;

use super::log::NatsLog;

/// The event bus of a deployment: the same connection and prefix as its message log.
#[derive(Clone)]
pub struct NatsEvents {
    log: NatsLog,
}

impl NatsEvents {
    pub fn new(log: NatsLog) -> Self {
        Self { log }
    }
}

#[async_trait]
impl EventBus for NatsEvents {
    async fn publish(&self, room: RoomId, event: &RoomEvent) -> Result<(), PresenceError> {
        let subject = self.log.names.events(&room.to_string()).map_err(PresenceError::new)?;
        let payload = rmp_serde::to_vec_named(event).map_err(PresenceError::new)?;
        self.log.client.publish(subject, payload.into()).await.map_err(PresenceError::new)
    }

    async fn subscribe(&self, room: RoomId) -> Result<EventStream, PresenceError> {
        let subject = self.log.names.events(&room.to_string()).map_err(PresenceError::new)?;
        let subscriber = self.log.client.subscribe(subject).await.map_err(PresenceError::new)?;
        let events = subscriber.filter_map(|message| async move {
            match rmp_serde::from_slice::<RoomEvent>(&message.payload) {
                Ok(event) => Some(event),
                Err(err) => {
                    tracing::warn!(subject = %message.subject, error = %err, "skipped an unreadable room event");
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

    use chat_shared::domain::UserId;

    use super::*;
    use crate::nats::testing::TestLog;

    #[tokio::test]
    async fn an_event_reaches_the_subscribers_of_its_room_only() {
        let log = TestLog::start().await;
        let events = NatsEvents::new((*log).clone());
        let (room, other) = (RoomId::generate(), RoomId::generate());
        let mut watching = events.subscribe(room).await.unwrap();
        let mut elsewhere = events.subscribe(other).await.unwrap();
        let event = RoomEvent::Typing { user_id: UserId::generate() };
        events.publish(room, &event).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(2), watching.next()).await.unwrap();
        assert_eq!(got, Some(event));
        assert!(tokio::time::timeout(Duration::from_millis(200), elsewhere.next()).await.is_err());
    }

    #[tokio::test]
    async fn something_unreadable_on_a_rooms_subject_is_skipped_and_later_events_still_arrive() {
        let log = TestLog::start().await;
        let events = NatsEvents::new((*log).clone());
        let room = RoomId::generate();
        let mut watching = events.subscribe(room).await.unwrap();
        let subject = log.names.events(&room.to_string()).unwrap();
        log.client.publish(subject, "not MessagePack".into()).await.unwrap();
        let event = RoomEvent::Typing { user_id: UserId::generate() };

        events.publish(room, &event).await.unwrap();

        let got = tokio::time::timeout(Duration::from_secs(2), watching.next()).await.unwrap();
        assert_eq!(got, Some(event));
    }
}
