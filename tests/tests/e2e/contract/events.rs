//! The `EventBus` contract: core NATS in a cluster, memory when embedded.

use std::sync::Arc;
use std::time::Duration;

use chat_adapters::nats::{NatsEvents, NatsLog, StreamSettings};
use chat_shared::domain::{RoomId, UserId};
use chat_shared::memory::MemoryEventBus;
use chat_shared::ports::{EventBus, RoomEvent};
use chat_tests::{TestStream, nats_url};
use futures::StreamExt;

contract_tests!(Events [nats, memory] [
    subscribers_get_the_rooms_events_in_order_and_no_other_rooms,
    publishing_to_a_room_nobody_watches_is_fine,
]);

pub struct Events {
    bus: Arc<dyn EventBus>,
    _stream: Option<TestStream>,
}

impl Events {
    async fn nats() -> Self {
        let stream = TestStream::new();
        let log =
            NatsLog::connect(&nats_url(), &stream.prefix, StreamSettings::default()).await.expect("NATS");
        Self { bus: Arc::new(NatsEvents::new(log)), _stream: Some(stream) }
    }

    async fn memory() -> Self {
        Self { bus: Arc::new(MemoryEventBus::default()), _stream: None }
    }
}

async fn subscribers_get_the_rooms_events_in_order_and_no_other_rooms(e: &Events) {
    let (room, other) = (RoomId::generate(), RoomId::generate());
    let mut first = e.bus.subscribe(room).await.unwrap();
    let mut second = e.bus.subscribe(room).await.unwrap();
    let ann = UserId::generate();
    let events = [
        RoomEvent::Presence { user_id: ann, online: true },
        RoomEvent::Typing { user_id: ann },
        RoomEvent::Read { user_id: ann, seq: 7 },
        RoomEvent::Member { user_id: ann, added: false },
    ];
    e.bus.publish(other, &RoomEvent::Typing { user_id: ann }).await.unwrap();
    for event in &events {
        e.bus.publish(room, event).await.unwrap();
    }
    for subscriber in [&mut first, &mut second] {
        let mut got = Vec::new();
        for _ in 0..events.len() {
            let next = tokio::time::timeout(Duration::from_secs(5), subscriber.next()).await;
            got.push(next.expect("an event in time").expect("the stream is open"));
        }
        assert_eq!(got, events);
        let extra = tokio::time::timeout(Duration::from_millis(200), subscriber.next()).await;
        assert!(extra.is_err(), "nothing of another room: {extra:?}");
    }
}

async fn publishing_to_a_room_nobody_watches_is_fine(e: &Events) {
    let event = RoomEvent::Typing { user_id: UserId::generate() };
    e.bus.publish(RoomId::generate(), &event).await.unwrap();
}
