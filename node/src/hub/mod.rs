//! Fan-out on one node: the node follows a room's live feed only while a connection here has
//! joined it, and hands each message to every such connection as bytes encoded once per codec.

mod delivery;
mod pump;
mod quotes;
mod subscriber;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chat_shared::domain::RoomId;
use chat_shared::error::Error;
use chat_shared::ports::{EventBus, LiveFeed, MessageLog};
use chat_shared::usecases::MessageService;
use tokio::sync::Mutex;

use pump::pump;
pub use subscriber::{MessageFrame, Outbound, Subscriber, ws_message};
use subscriber::{Subscribers, write};

struct RoomEntry {
    subscribers: Subscribers,
    pump: tokio::task::JoinHandle<()>,
}

/// The rooms this node follows.
#[derive(Clone)]
pub struct Hub {
    feed: Arc<dyn LiveFeed>,
    log: Arc<dyn MessageLog>,
    events: Arc<dyn EventBus>,
    /// Fills in the quotes of live replies; without it they carry their parent's reference only.
    quotes: Option<Arc<MessageService>>,
    rooms: Arc<Mutex<HashMap<RoomId, RoomEntry>>>,
}

impl Hub {
    pub fn new(feed: Arc<dyn LiveFeed>, log: Arc<dyn MessageLog>, events: Arc<dyn EventBus>) -> Self {
        Self { feed, log, events, quotes: None, rooms: Arc::new(Mutex::new(HashMap::new())) }
    }

    /// Quotes each live reply's parent, read through `messages`.
    pub fn quoting(self, messages: Arc<MessageService>) -> Self {
        Self { quotes: Some(messages), ..self }
    }

    /// Adds a connection to a room. When this returns, every message the log stores from now
    /// on reaches the connection (or marks it too slow); earlier ones the caller reads itself.
    pub async fn subscribe(&self, room: RoomId, subscriber: Subscriber) -> Result<(), Error> {
        let mut rooms = self.rooms.lock().await;
        if let Some(entry) = rooms.get(&room) {
            write(&entry.subscribers).push(subscriber);
            return Ok(());
        }
        let live = self.feed.subscribe(room).await?;
        // Without events the room still works: messages matter, presence is best effort.
        let events = match self.events.subscribe(room).await {
            Ok(events) => events,
            Err(err) => {
                tracing::warn!(%room, error = %err, "room events unavailable");
                Box::pin(futures::stream::pending())
            }
        };
        let subscribers: Subscribers = Arc::new(RwLock::new(vec![subscriber]));
        let pump = tokio::spawn(pump(
            room,
            live,
            events,
            self.log.clone(),
            self.quotes.clone(),
            subscribers.clone(),
        ));
        rooms.insert(room, RoomEntry { subscribers, pump });
        metrics::gauge!("chat_rooms_followed").set(rooms.len() as f64);
        Ok(())
    }

    /// Removes a connection from a room; the node stops following a room nobody here watches.
    pub async fn unsubscribe(&self, room: RoomId, subscriber_id: u64) {
        let mut rooms = self.rooms.lock().await;
        let Some(entry) = rooms.get(&room) else { return };
        let now_empty = {
            let mut subscribers = write(&entry.subscribers);
            subscribers.retain(|s| s.id != subscriber_id);
            subscribers.is_empty()
        };
        if now_empty && let Some(entry) = rooms.remove(&room) {
            entry.pump.abort();
        }
        metrics::gauge!("chat_rooms_followed").set(rooms.len() as f64);
    }
}
