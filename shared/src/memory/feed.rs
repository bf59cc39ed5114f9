//! The user feed within one process: a broadcast channel per user with a socket here.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::domain::UserId;
use crate::ports::{FeedError, UserEvent, UserEventStream, UserFeed};

#[derive(Default)]
pub struct MemoryUserFeed {
    users: Mutex<HashMap<UserId, broadcast::Sender<UserEvent>>>,
}

impl MemoryUserFeed {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, broadcast::Sender<UserEvent>>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl UserFeed for MemoryUserFeed {
    async fn publish(&self, user: UserId, event: &UserEvent) -> Result<(), FeedError> {
        if let Some(sender) = self.lock().get(&user) {
            let _ = sender.send(event.clone());
        }
        Ok(())
    }

    async fn subscribe(&self, user: UserId) -> Result<UserEventStream, FeedError> {
        let receiver = {
            let mut users = self.lock();
            // Users whose every receiver dropped are forgotten as others subscribe.
            users.retain(|_, sender| sender.receiver_count() > 0);
            users.entry(user).or_insert_with(|| broadcast::channel(256).0).subscribe()
        };
        Ok(Box::pin(super::broadcast::broadcast_stream(receiver)))
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::domain::RoomId;

    #[tokio::test]
    async fn an_event_reaches_its_users_subscribers_only() {
        let feed = MemoryUserFeed::default();
        let (ann, bob) = (UserId::generate(), UserId::generate());
        let mut anns = feed.subscribe(ann).await.unwrap();
        let mut bobs = feed.subscribe(bob).await.unwrap();
        let event = UserEvent::RoomRemoved { room_id: RoomId::generate(), banned: false };
        feed.publish(ann, &event).await.unwrap();
        assert_eq!(anns.next().await, Some(event));
        let nothing = tokio::time::timeout(std::time::Duration::from_millis(50), bobs.next()).await;
        assert!(nothing.is_err());
    }

    #[tokio::test]
    async fn users_without_subscribers_are_forgotten() {
        let feed = MemoryUserFeed::default();
        drop(feed.subscribe(UserId::generate()).await.unwrap());
        let _kept = feed.subscribe(UserId::generate()).await.unwrap();
        assert_eq!(feed.lock().len(), 1);
    }
}
