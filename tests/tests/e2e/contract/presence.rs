//! The `PresenceStore` contract: Redis in a cluster, memory when embedded. What is common to
//! both: one node's counts, transitions, limits and a sweep that finds no dead node; the sweep
//! of dead nodes needs several nodes and is the Redis adapter's own test.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chat_adapters::redis::RedisPresence;
use chat_shared::domain::{RoomId, UserId};
use chat_shared::memory::MemoryPresenceStore;
use chat_shared::ports::{OnlineChange, PresenceStore};
use chat_tests::{TestStream, redis_url};

contract_tests!(Presence [redis, memory] [
    a_user_is_online_from_the_first_connection_to_the_last,
    the_online_list_is_limited_but_counts_everyone,
    rooms_are_independent,
    a_living_node_sweeps_nothing,
]);

pub struct Presence {
    store: Arc<dyn PresenceStore>,
    _keys: Option<TestStream>,
}

impl Presence {
    async fn redis() -> Self {
        let keys = TestStream::new();
        let store = RedisPresence::connect(&redis_url(), &keys.prefix, "node-a").await.expect("Redis");
        Self { store: Arc::new(store), _keys: Some(keys) }
    }

    async fn memory() -> Self {
        Self { store: Arc::new(MemoryPresenceStore::default()), _keys: None }
    }
}

fn change(before: bool, after: bool) -> OnlineChange {
    OnlineChange { before, after }
}

async fn a_user_is_online_from_the_first_connection_to_the_last(p: &Presence) {
    let (room, ann) = (RoomId::generate(), UserId::generate());
    p.store.heartbeat(Duration::from_secs(30)).await.unwrap();
    assert!(!p.store.is_online(room, ann).await.unwrap());
    assert_eq!(p.store.set(room, ann, 1).await.unwrap(), change(false, true), "comes online");
    assert_eq!(p.store.set(room, ann, 2).await.unwrap(), change(true, true), "a second tab");
    assert_eq!(p.store.set(room, ann, 2).await.unwrap(), change(true, true), "rewritten as is");
    assert_eq!(p.store.set(room, ann, 1).await.unwrap(), change(true, true), "one tab closed");
    assert!(p.store.is_online(room, ann).await.unwrap());
    assert_eq!(p.store.set(room, ann, 0).await.unwrap(), change(true, false), "goes offline");
    assert!(!p.store.is_online(room, ann).await.unwrap());
    assert_eq!(p.store.set(room, ann, 0).await.unwrap(), change(false, false), "stays offline");
    assert_eq!(p.store.online(room, 10).await.unwrap(), (vec![], 0));
}

async fn the_online_list_is_limited_but_counts_everyone(p: &Presence) {
    let room = RoomId::generate();
    p.store.heartbeat(Duration::from_secs(30)).await.unwrap();
    let users: Vec<UserId> = (0..5).map(|_| UserId::generate()).collect();
    for user in &users {
        p.store.set(room, *user, 1).await.unwrap();
    }
    let (some, count) = p.store.online(room, 3).await.unwrap();
    assert_eq!((some.len(), count), (3, 5));
    let (all, count) = p.store.online(room, 10).await.unwrap();
    assert_eq!(count, 5);
    assert_eq!(all.into_iter().collect::<HashSet<_>>(), users.into_iter().collect::<HashSet<_>>());
}

async fn rooms_are_independent(p: &Presence) {
    let (first, second, ann) = (RoomId::generate(), RoomId::generate(), UserId::generate());
    p.store.heartbeat(Duration::from_secs(30)).await.unwrap();
    p.store.set(first, ann, 1).await.unwrap();
    assert!(p.store.is_online(first, ann).await.unwrap());
    assert!(!p.store.is_online(second, ann).await.unwrap());
    assert_eq!(p.store.online(second, 10).await.unwrap().1, 0);
}

async fn a_living_node_sweeps_nothing(p: &Presence) {
    let (room, ann) = (RoomId::generate(), UserId::generate());
    p.store.heartbeat(Duration::from_secs(30)).await.unwrap();
    p.store.set(room, ann, 1).await.unwrap();
    assert_eq!(p.store.sweep_dead_nodes().await.unwrap(), vec![]);
    assert!(p.store.is_online(room, ann).await.unwrap(), "its own entries stay");
}
