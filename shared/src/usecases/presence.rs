use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
// Tokio's clock, not the system's: tests stop and advance it instead of sleeping.
use tokio::time::Instant;

use crate::domain::{RoomId, UserId};
use crate::ports::{EventBus, OnlineChange, PresenceStore, RoomEvent};

#[derive(Debug, Clone)]
pub struct PresenceSettings {
    /// How long a user whose last connection left stays online, so a quick reconnect does not
    /// flap offline and online to everyone.
    pub grace: Duration,
    /// Above this many online users a room's presence is a count: no per-user events, no list.
    pub count_threshold: u64,
    /// At most one typing event per user and room reaches others in this interval.
    pub typing_interval: Duration,
}

/// Who is online in a room, as a join reply or `GET /rooms/{id}/presence` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Online {
    /// Empty when the room is over the count threshold, or presence is unavailable.
    pub online: Vec<UserId>,
    pub count: u64,
    /// Whether the list and count are known: while the presence store is unreachable they are
    /// empty and zero, which does not mean that nobody is online.
    pub presence: Availability,
}

impl Online {
    fn known(online: Vec<UserId>, count: u64) -> Self {
        Self { online, count, presence: Availability::Available }
    }

    fn unknown() -> Self {
        Self { online: Vec::new(), count: 0, presence: Availability::Unavailable }
    }
}

/// Whether presence could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Availability {
    Available,
    Unavailable,
}

/// Presence and typing for the connections of this node. It keeps its own connection counts,
/// writes them to the shared store as absolute numbers (one writer at a time, so they land in
/// order), and rewrites them all at every heartbeat, so a store that lost its data or came back
/// after an outage is whole again within one beat. Failures are logged and counted: presence
/// is best effort and never stops messaging.
pub struct PresenceService {
    store: Arc<dyn PresenceStore>,
    events: Arc<dyn EventBus>,
    settings: PresenceSettings,
    local: Mutex<HashMap<(RoomId, UserId), u32>>,
    typing: Mutex<HashMap<(RoomId, UserId), Instant>>,
    writer: tokio::sync::Mutex<()>,
}

impl PresenceService {
    pub fn new(store: Arc<dyn PresenceStore>, events: Arc<dyn EventBus>, settings: PresenceSettings) -> Self {
        Self {
            store,
            events,
            settings,
            local: Mutex::new(HashMap::new()),
            typing: Mutex::new(HashMap::new()),
            writer: tokio::sync::Mutex::new(()),
        }
    }

    fn local(&self) -> std::sync::MutexGuard<'_, HashMap<(RoomId, UserId), u32>> {
        self.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection of `user` here joined `room`; returns who is online for the join reply.
    pub async fn joined(&self, room: RoomId, user: UserId) -> Online {
        let connections = {
            let mut local = self.local();
            let count = local.entry((room, user)).or_insert(0);
            *count += 1;
            *count
        };
        let changed = {
            let _writer = self.writer.lock().await;
            self.store.set(room, user, connections).await
        };
        let online = self.online(room).await;
        match changed {
            Ok(OnlineChange { before: false, after: true })
                if online.count <= self.settings.count_threshold =>
            {
                self.publish(room, RoomEvent::Presence { user_id: user, online: true }).await;
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(%room, error = %err, "presence not recorded"),
        }
        online
    }

    /// A connection of `user` here left `room` (or closed). When it was the user's last one
    /// anywhere, others learn it after the grace period, unless the user is back by then.
    pub async fn left(&self, room: RoomId, user: UserId) {
        let connections = {
            let mut local = self.local();
            match local.get_mut(&(room, user)) {
                Some(count) if *count > 1 => {
                    *count -= 1;
                    *count
                }
                Some(_) => {
                    local.remove(&(room, user));
                    0
                }
                None => return,
            }
        };
        let changed = {
            let _writer = self.writer.lock().await;
            self.store.set(room, user, connections).await
        };
        match changed {
            Ok(OnlineChange { before: true, after: false }) => {
                let (store, events, settings) =
                    (self.store.clone(), self.events.clone(), self.settings.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(settings.grace).await;
                    announce_offline(&*store, &*events, &settings, room, user).await;
                });
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(%room, error = %err, "presence not recorded"),
        }
    }

    /// Who is online in the room; empty, zero and marked unavailable when the store cannot say.
    pub async fn online(&self, room: RoomId) -> Online {
        let limit = usize::try_from(self.settings.count_threshold).unwrap_or(usize::MAX);
        match self.store.online(room, limit).await {
            Ok((_, count)) if count > self.settings.count_threshold => Online::known(Vec::new(), count),
            Ok((online, count)) => Online::known(online, count),
            Err(err) => {
                tracing::warn!(%room, error = %err, "presence unavailable");
                Online::unknown()
            }
        }
    }

    /// Keeps this node's entries alive, rewrites them, and announces the users of nodes that
    /// died as offline. Run it every third of `ttl`.
    pub async fn heartbeat(&self, ttl: Duration) {
        let beat = async {
            self.store.heartbeat(ttl).await?;
            let entries: Vec<((RoomId, UserId), u32)> = self.local().iter().map(|(k, v)| (*k, *v)).collect();
            for ((room, user), connections) in entries {
                let _writer = self.writer.lock().await;
                // Only entries still counted when the writer is free: a leave in between wins.
                if self.local().get(&(room, user)) == Some(&connections) {
                    self.store.set(room, user, connections).await?;
                }
            }
            self.store.sweep_dead_nodes().await
        };
        match beat.await {
            Ok(gone) => {
                for (room, user) in gone {
                    announce_offline(&*self.store, &*self.events, &self.settings, room, user).await;
                }
            }
            Err(err) => tracing::warn!(error = %err, "presence heartbeat failed"),
        }
        let interval = self.settings.typing_interval;
        self.typing.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, at| at.elapsed() < interval);
    }

    /// Tells the room `user` is typing, at most once per interval; `false` when throttled.
    pub async fn typing(&self, room: RoomId, user: UserId) -> bool {
        {
            let mut typing = self.typing.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            match typing.get(&(room, user)) {
                Some(at) if now.duration_since(*at) < self.settings.typing_interval => return false,
                _ => typing.insert((room, user), now),
            };
        }
        self.publish(room, RoomEvent::Typing { user_id: user }).await;
        true
    }

    async fn publish(&self, room: RoomId, event: RoomEvent) {
        if let Err(err) = self.events.publish(room, &event).await {
            tracing::warn!(%room, error = %err, "room event not published");
        }
    }
}

async fn announce_offline(
    store: &dyn PresenceStore,
    events: &dyn EventBus,
    settings: &PresenceSettings,
    room: RoomId,
    user: UserId,
) {
    match store.is_online(room, user).await {
        Ok(true) => return,
        Ok(false) => {}
        Err(err) => {
            tracing::warn!(%room, error = %err, "presence unavailable");
            return;
        }
    }
    if let Ok((_, count)) = store.online(room, 0).await
        && count > settings.count_threshold
    {
        return;
    }
    if let Err(err) = events.publish(room, &RoomEvent::Presence { user_id: user, online: false }).await {
        tracing::warn!(%room, error = %err, "room event not published");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemoryEventBus, MemoryPresenceStore};
    use crate::ports::PresenceError;
    use futures::StreamExt;

    fn service(grace_ms: u64, threshold: u64) -> (PresenceService, Arc<MemoryEventBus>) {
        let events = Arc::new(MemoryEventBus::default());
        let settings = PresenceSettings {
            grace: Duration::from_millis(grace_ms),
            count_threshold: threshold,
            typing_interval: Duration::from_secs(2),
        };
        (PresenceService::new(Arc::new(MemoryPresenceStore::default()), events.clone(), settings), events)
    }

    async fn next(stream: &mut crate::ports::EventStream) -> Option<RoomEvent> {
        tokio::time::timeout(Duration::from_millis(500), stream.next()).await.ok().flatten()
    }

    #[tokio::test(start_paused = true)]
    async fn two_tabs_count_once_and_go_offline_only_when_both_close() {
        let (presence, events) = service(10, 1000);
        let (room, ann) = (RoomId::generate(), UserId::generate());
        let mut feed = events.subscribe(room).await.unwrap();
        let online = presence.joined(room, ann).await;
        assert_eq!(online, Online::known(vec![ann], 1));
        assert_eq!(next(&mut feed).await, Some(RoomEvent::Presence { user_id: ann, online: true }));
        presence.joined(room, ann).await;
        presence.left(room, ann).await;
        assert_eq!(next(&mut feed).await, None, "one tab closing changes nothing");
        presence.left(room, ann).await;
        assert_eq!(next(&mut feed).await, Some(RoomEvent::Presence { user_id: ann, online: false }));
        assert_eq!(presence.online(room).await.count, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quick_reconnect_does_not_flap() {
        let (presence, events) = service(200, 1000);
        let (room, ann) = (RoomId::generate(), UserId::generate());
        presence.joined(room, ann).await;
        let mut feed = events.subscribe(room).await.unwrap();
        presence.left(room, ann).await;
        presence.joined(room, ann).await;
        // The reconnect's own "online" may come; an "offline" must not.
        tokio::time::sleep(Duration::from_millis(300)).await;
        while let Some(event) = next(&mut feed).await {
            assert_ne!(event, RoomEvent::Presence { user_id: ann, online: false });
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_crowded_room_reports_a_count_and_no_events() {
        let (presence, events) = service(0, 2);
        let room = RoomId::generate();
        for _ in 0..3 {
            presence.joined(room, UserId::generate()).await;
        }
        let mut feed = events.subscribe(room).await.unwrap();
        let online = presence.joined(room, UserId::generate()).await;
        assert_eq!((online.online.len(), online.count), (0, 4));
        assert_eq!(next(&mut feed).await, None);
    }

    /// A presence store that cannot be reached, as Redis during an outage.
    struct UnreachableStore;

    #[async_trait::async_trait]
    impl PresenceStore for UnreachableStore {
        async fn set(&self, _: RoomId, _: UserId, _: u32) -> Result<OnlineChange, PresenceError> {
            Err(PresenceError::new("connection refused"))
        }
        async fn is_online(&self, _: RoomId, _: UserId) -> Result<bool, PresenceError> {
            Err(PresenceError::new("connection refused"))
        }
        async fn online(&self, _: RoomId, _: usize) -> Result<(Vec<UserId>, u64), PresenceError> {
            Err(PresenceError::new("connection refused"))
        }
        async fn heartbeat(&self, _: Duration) -> Result<(), PresenceError> {
            Err(PresenceError::new("connection refused"))
        }
        async fn sweep_dead_nodes(&self) -> Result<Vec<(RoomId, UserId)>, PresenceError> {
            Err(PresenceError::new("connection refused"))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreachable_store_says_presence_is_unavailable_rather_than_nobody_online() {
        let settings = PresenceSettings {
            grace: Duration::ZERO,
            count_threshold: 1000,
            typing_interval: Duration::from_secs(2),
        };
        let events = Arc::new(MemoryEventBus::default());
        let presence = PresenceService::new(Arc::new(UnreachableStore), events, settings);
        let (room, ann) = (RoomId::generate(), UserId::generate());
        let joined = presence.joined(room, ann).await;
        assert_eq!(joined.presence, Availability::Unavailable);
        assert_eq!(presence.online(room).await, Online::unknown());
        let json = serde_json::to_value(presence.online(room).await).unwrap();
        assert_eq!(json["presence"], "unavailable");
    }

    #[tokio::test(start_paused = true)]
    async fn a_reachable_store_says_presence_is_available() {
        let (presence, _) = service(0, 1000);
        let json = serde_json::to_value(presence.online(RoomId::generate()).await).unwrap();
        assert_eq!(json, serde_json::json!({"online": [], "count": 0, "presence": "available"}));
    }

    #[tokio::test(start_paused = true)]
    async fn typing_reaches_others_at_most_once_per_interval() {
        let (presence, events) = service(0, 1000);
        let (room, ann) = (RoomId::generate(), UserId::generate());
        let mut feed = events.subscribe(room).await.unwrap();
        assert!(presence.typing(room, ann).await);
        assert!(!presence.typing(room, ann).await);
        assert!(presence.typing(room, UserId::generate()).await);
        assert!(matches!(next(&mut feed).await, Some(RoomEvent::Typing { .. })));
        assert!(matches!(next(&mut feed).await, Some(RoomEvent::Typing { .. })));
        assert_eq!(next(&mut feed).await, None);
        tokio::time::advance(Duration::from_millis(1_400)).await;
        assert!(!presence.typing(room, ann).await, "still within the interval");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(presence.typing(room, ann).await, "a new interval");
    }
}
