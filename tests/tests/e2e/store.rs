//! The PostgreSQL message store, against a real database.

use std::sync::Arc;

use chat_adapters::postgres::PgMessageStore;
use chat_shared::domain::{ClientMsgId, Content, Message, MessageId, MessageKind, Metadata, RoomId, UserId};
use chat_shared::ports::MessageStore;
use chat_tests::TestApp;

fn message(room: RoomId, seq: u64, client_id: &str) -> Message {
    Message {
        id: MessageId::generate(),
        room_id: room,
        seq,
        sender_id: UserId::generate(),
        content: Content::parse(&format!("content of {client_id}")).unwrap(),
        kind: MessageKind::text(),
        metadata: Metadata::parse(None).unwrap(),
        client_msg_id: Some(ClientMsgId::parse(client_id).unwrap()),
        created_at: chrono::Utc::now(),
    }
}

#[tokio::test]
async fn concurrent_client_id_lookups_each_get_their_own_answer() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let rooms: Vec<RoomId> =
        [app.create_room(&ann, "group", &[]).await, app.create_room(&ann, "group", &[]).await]
            .iter()
            .map(|id| id.parse().unwrap())
            .collect();
    let store = Arc::new(PgMessageStore::new(app.db.pool.clone()));
    // The same client id in both rooms, each its own message; ids 0..50 stored, 50..100 not.
    let stored: Vec<Message> = (0..50u64)
        .flat_map(|i| rooms.iter().map(move |room| message(*room, i + 1, &format!("c-{i}"))))
        .collect();
    assert_eq!(store.insert_batch(&stored).await.unwrap(), 100);

    // Many at once, so they share queries; every stored id asked twice.
    let lookups = (0..100u64).flat_map(|i| rooms.iter().map(move |room| (*room, format!("c-{i}"))));
    let lookups: Vec<(RoomId, String)> = lookups.clone().chain(lookups.take(100)).collect();
    let answers =
        futures::future::join_all(
            lookups.iter().map(|(room, client_id)| {
                let store = store.clone();
                async move {
                    store.by_client_msg_id(*room, &ClientMsgId::parse(client_id).unwrap()).await.unwrap()
                }
            }),
        )
        .await;

    for ((room, client_id), answer) in lookups.iter().zip(answers) {
        let expected = stored.iter().find(|m| {
            m.room_id == *room
                && m.client_msg_id.as_ref().map(ClientMsgId::as_str) == Some(client_id.as_str())
        });
        assert_eq!(answer.as_ref().map(|m| m.id), expected.map(|m| m.id), "{client_id} in {room}");
    }
}
