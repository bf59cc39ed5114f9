use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::domain::{RoomId, UserId};
use crate::ports::{EventBus, EventStream, OnlineChange, PresenceError, PresenceStore, RoomEvent};

/// Presence of a single process: connection counts per room and user.
#[derive(Default)]
pub struct MemoryPresenceStore {
    rooms: Mutex<HashMap<RoomId, HashMap<UserId, u32>>>,
}

#[async_trait]
impl PresenceStore for MemoryPresenceStore {
    async fn set(&self, room: RoomId, user: UserId, connections: u32) -> Result<OnlineChange, PresenceError> {
        let mut rooms = lock(&self.rooms);
        let users = rooms.entry(room).or_default();
        let was = users.contains_key(&user);
        if connections == 0 {
            users.remove(&user);
        } else {
            users.insert(user, connections);
        }
        let is = users.contains_key(&user);
        if users.is_empty() {
            rooms.remove(&room);
        }
        Ok(OnlineChange { before: was, after: is })
    }

    async fn is_online(&self, room: RoomId, user: UserId) -> Result<bool, PresenceError> {
        let rooms = lock(&self.rooms);
        Ok(rooms.get(&room).is_some_and(|users| users.contains_key(&user)))
    }

    async fn online(&self, room: RoomId, limit: usize) -> Result<(Vec<UserId>, u64), PresenceError> {
        let rooms = lock(&self.rooms);
        let Some(users) = rooms.get(&room) else { return Ok((Vec::new(), 0)) };
        Ok((users.keys().take(limit).copied().collect(), users.len() as u64))
    }

    async fn heartbeat(&self, _ttl: Duration) -> Result<(), PresenceError> {
        Ok(())
    }

    async fn sweep_dead_nodes(&self) -> Result<Vec<(RoomId, UserId)>, PresenceError> {
        Ok(Vec::new())
    }
}

/// Room events within one process.
#[derive(Default)]
pub struct MemoryEventBus {
    rooms: Mutex<HashMap<RoomId, broadcast::Sender<RoomEvent>>>,
}

#[async_trait]
impl EventBus for MemoryEventBus {
    async fn publish(&self, room: RoomId, event: &RoomEvent) -> Result<(), PresenceError> {
        let rooms = lock(&self.rooms);
        if let Some(sender) = rooms.get(&room) {
            let _ = sender.send(event.clone());
        }
        Ok(())
    }

    async fn subscribe(&self, room: RoomId) -> Result<EventStream, PresenceError> {
        let receiver = {
            let mut rooms = lock(&self.rooms);
            rooms.retain(|_, sender| sender.receiver_count() > 0);
            rooms.entry(room).or_insert_with(|| broadcast::channel(1024).0).subscribe()
        };
        Ok(Box::pin(super::broadcast::broadcast_stream(receiver)))
    }
}

/// The map behind a mutex, also after a panic elsewhere poisoned it: each change to it is one
/// statement, so a poisoned map is still whole.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
