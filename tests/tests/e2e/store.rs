//! The PostgreSQL message store, against a real database.

use std::sync::Arc;

use chat_adapters::postgres::PgMessageStore;
use chat_shared::domain::{ClientMsgId, Content, Message, MessageId, MessageKind, Metadata, RoomId, UserId};
use chat_shared::ports::{MessageStore, PageQuery};
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
        edited_at: None,
        deleted: false,
        deleted_by: None,
        deleted_at: None,
        changed_seq: 0,
        reactions: Vec::new(),
        reactions_seq: 0,
        reply_to: None,
        reply_count: 0,
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

/// A send repeated after the stream's duplicate window, while the persister is behind, is in
/// the stream twice, and both were acknowledged: both are stored, in one batch or in two, and
/// the first is the original a lookup answers with.
#[tokio::test]
async fn a_client_id_stored_again_at_a_later_seq_keeps_both_and_the_first_is_the_original() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let room: RoomId = app.create_room(&ann, "group", &[]).await.parse().unwrap();
    let store = PgMessageStore::new(app.db.pool.clone());
    let first_of = async |client_id: &str| {
        let client_id = ClientMsgId::parse(client_id).unwrap();
        store.by_client_msg_id(room, &client_id).await.unwrap().map(|m| m.seq)
    };

    assert_eq!(store.insert_batch(&[message(room, 5, "late")]).await.unwrap(), 1);
    let later = message(room, 9, "late");
    assert_eq!(store.insert_batch(std::slice::from_ref(&later)).await.unwrap(), 1);
    assert_eq!(
        store.insert_batch(&[message(room, 12, "twice"), message(room, 11, "twice")]).await.unwrap(),
        2
    );
    // Delivered again (a batch committed but not acknowledged): nothing new.
    assert_eq!(store.insert_batch(&[later, message(room, 13, "new")]).await.unwrap(), 1);

    let page = store.page(room, PageQuery { before: None, after: None, limit: 50 }).await.unwrap();
    assert_eq!(page.iter().map(|m| m.seq).collect::<Vec<_>>(), [5, 9, 11, 12, 13]);
    assert_eq!(first_of("late").await, Some(5));
    assert_eq!(first_of("twice").await, Some(11));
}

/// Scans of `messages` so far, (sequential, index), with this connection's own counts in.
async fn messages_scans(conn: &sqlx::PgPool) -> (i64, i64) {
    // A backend adds its counts to the shared ones when it goes idle, at most once a second
    // unless asked: this makes the next idle moment add them.
    sqlx::query("select pg_stat_force_next_flush()").execute(conn).await.unwrap();
    sqlx::query_as(
        "select seq_scan, coalesce(idx_scan, 0) from pg_stat_user_tables where relname = 'messages'",
    )
    .fetch_one(conn)
    .await
    .unwrap()
}

/// Waits until `count` scans of `messages` more than `since` are counted: other backends add
/// theirs within ten seconds of going idle.
async fn scans_after(conn: &sqlx::PgPool, since: (i64, i64), count: i64) -> (i64, i64) {
    for _ in 0..100 {
        let now = messages_scans(conn).await;
        if now.0 + now.1 >= since.0 + since.1 + count {
            return now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("fewer than {count} scans of messages were counted after {since:?}");
}

async fn insert_messages(conn: &sqlx::PgPool, room: RoomId, seqs: std::ops::RangeInclusive<i64>) {
    sqlx::query(
        "insert into messages (id, room_id, seq, sender_id, content, client_msg_id, created_at)
         select gen_random_uuid(), $1, s, gen_random_uuid(), 'content', 'c-' || s, now()
         from generate_series($2::int8, $3::int8) s",
    )
    .bind(room.as_uuid())
    .bind(seqs.start())
    .bind(seqs.end())
    .execute(conn)
    .await
    .unwrap();
}

/// A node's connections live for hours while `messages` grows from nothing. A client-id lookup
/// must reach the table through its index at any size, not through a plan made while the table
/// was tiny: such a plan read the whole table on every send.
#[tokio::test]
async fn client_id_lookups_use_the_index_after_the_table_grows() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let room: RoomId = app.create_room(&ann, "group", &[]).await.parse().unwrap();
    let conn = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&app.db.url).await.unwrap();
    let store = PgMessageStore::new(conn.clone());
    let ask = async |seq: i64| {
        let client_id = ClientMsgId::parse(&format!("c-{seq}")).unwrap();
        store.by_client_msg_id(room, &client_id).await.unwrap().map(|m| m.seq)
    };

    // Nearly empty and analyzed, as autovacuum leaves a young table: more lookups than it
    // takes PostgreSQL to settle on a cached plan for a prepared statement (five).
    insert_messages(&conn, room, 1..=1).await;
    sqlx::query("analyze messages").execute(&conn).await.unwrap();
    let start = messages_scans(&conn).await;
    for _ in 0..10 {
        assert_eq!(ask(1).await, Some(1));
    }
    insert_messages(&conn, room, 2..=20_001).await;
    let grown = scans_after(&conn, start, 10).await;

    // A second on, so the lookup's connection adds its counts as soon as it is idle.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(ask(15_000).await, Some(15_000));
    let after = scans_after(&conn, grown, 1).await;
    assert_eq!(after.0 - grown.0, 0, "the lookup scanned all of messages ({} rows)", 20_001);
}
