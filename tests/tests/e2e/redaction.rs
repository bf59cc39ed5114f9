//! A deleted message's text is erased everywhere the persister writes or reads it: PostgreSQL
//! holds its tombstone, and the stream no longer holds the message or any edit of it, while
//! the deletion itself stays.

use std::time::{Duration, Instant};

use chat_adapters::jetstream::JetStreamLog;
use chat_adapters::nats::{NatsLog, StreamSettings};
use chat_adapters::postgres::PgMessageStore;
use chat_shared::domain::{Change, ChangeKind, Content, Entry, Message, Metadata, RoomId, Seq};
use chat_shared::ports::{Appended, MessageLog, MessageRef, MessageStore};
use chat_tests::{TestDatabase, TestPersister, TestStream, nats_url};

use crate::contract::{new_message, now};

/// The test persister's durable consumer (its default `--consumer`).
const CONSUMER: &str = "persister";

/// A room's entries as a node appends them.
struct Room {
    log: JetStreamLog,
    id: RoomId,
}

impl Room {
    async fn new(stream: &TestStream) -> Room {
        let nats =
            NatsLog::connect(&nats_url(), &stream.prefix, StreamSettings::default()).await.expect("NATS");
        Room { log: JetStreamLog::new(nats, CONSUMER), id: RoomId::generate() }
    }

    /// Appends a message with this text, in its content and metadata, and client id (which a
    /// tombstone keeps); returns it with the seq it got.
    async fn send(&self, text: &str, client_id: &str) -> Message {
        let metadata = Metadata::parse(Some(serde_json::json!({ "note": format!("{text} note") }))).unwrap();
        let message = Message { metadata, ..new_message(self.id, 0, text, Some(client_id)) };
        let seq = new_seq(self.log.append(&message, &format!("m-{}", message.id)).await.unwrap());
        Message { seq, ..message }
    }

    async fn edit(&self, of: &Message, text: &str) -> Change {
        let edited = of.edited(Content::parse(text).unwrap(), None, now());
        let change = Change {
            kind: ChangeKind::Edited,
            seq: 0,
            actor: of.sender_id,
            client_change_id: None,
            message: edited,
        };
        self.append(change).await
    }

    async fn delete(&self, of: &Message) -> Change {
        let tombstone = of.tombstone(of.sender_id, now());
        let change = Change {
            kind: ChangeKind::Deleted,
            seq: 0,
            actor: of.sender_id,
            client_change_id: None,
            message: tombstone,
        };
        self.append(change).await
    }

    /// Appends a change; returns it as stored, under its seq.
    async fn append(&self, change: Change) -> Change {
        let dedup_key = format!("c-{}-{}", change.message.id, uuid::Uuid::new_v4());
        let seq = new_seq(self.log.append_change(&change, &dedup_key).await.unwrap());
        change.at_seq(seq)
    }

    /// Waits until the persisters have acknowledged every entry through `seq`.
    async fn persisted(&self, seq: Seq) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.log.persisted_through().await.unwrap() < seq {
            assert!(Instant::now() < deadline, "entries through {seq} not persisted within 20s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn new_seq(appended: Appended) -> Seq {
    match appended {
        Appended::New(seq) => seq,
        Appended::Duplicate(seq) => panic!("stored already under {seq}"),
    }
}

/// Rows of the database with "secret" anywhere in them: in `messages`, as text of the content
/// alone and of the whole row, and in `message_edits`.
async fn rows_with_secret(db: &TestDatabase) -> (i64, i64, i64) {
    let count = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql).fetch_one(&db.pool).await.expect("counting rows")
    };
    (
        count("select count(*) from messages where content like '%secret%'").await,
        count("select count(*) from messages m where m::text like '%secret%'").await,
        count("select count(*) from message_edits e where e::text like '%secret%'").await,
    )
}

/// Checks that `deletion` of `deleted`, whose edits are `edits`, left nothing of its text, and
/// that `kept`, of the same room, is untouched.
async fn assert_erased(
    room: &Room,
    db: &TestDatabase,
    deleted: &Message,
    edits: &[Change],
    deletion: &Change,
    kept: &Message,
) {
    let store = PgMessageStore::new(db.pool.clone());
    let tombstone = store.find(room.id, MessageRef::Seq(deleted.seq)).await.unwrap();
    assert_eq!(tombstone.as_ref(), Some(&deletion.message));
    assert_eq!(store.find(room.id, MessageRef::Seq(kept.seq)).await.unwrap().as_ref(), Some(kept));
    assert_eq!(rows_with_secret(db).await, (0, 0, 0));

    for seq in std::iter::once(deleted.seq).chain(edits.iter().map(|edit| edit.seq)) {
        assert_eq!(room.log.get(seq).await.unwrap(), None, "entry {seq} is still in the stream");
    }
    assert_eq!(room.log.get(deletion.seq).await.unwrap(), Some(Entry::Change(deletion.clone())));
    let left: Vec<Seq> = room.log.read_after(room.id, 0, 100).await.unwrap().iter().map(Entry::seq).collect();
    assert_eq!(left, [kept.seq, deletion.seq]);
}

#[tokio::test]
async fn a_message_deleted_in_the_batch_that_brings_it_is_erased_with_its_edits() {
    let (db, stream) = (TestDatabase::create().await.unwrap(), TestStream::new());
    let room = Room::new(&stream).await;
    let secret = room.send("secret words", "c-1").await;
    let kept = room.send("public words", "c-2").await;
    let edits = [room.edit(&secret, "secret edit one").await, room.edit(&secret, "secret edit two").await];
    let deletion = room.delete(&secret).await;

    let persister = TestPersister::start(&db, &stream).await.unwrap();
    room.persisted(deletion.seq).await;

    assert_erased(&room, &db, &secret, &edits, &deletion, &kept).await;
    persister.stop().await.unwrap();
}

#[tokio::test]
async fn a_message_deleted_after_it_and_its_edits_are_stored_is_erased_with_its_edits() {
    let (db, stream) = (TestDatabase::create().await.unwrap(), TestStream::new());
    let room = Room::new(&stream).await;
    let persister = TestPersister::start(&db, &stream).await.unwrap();
    let secret = room.send("secret words", "c-1").await;
    let kept = room.send("public words", "c-2").await;
    room.persisted(kept.seq).await;
    let mut edits = Vec::new();
    for text in ["secret edit one", "secret edit two"] {
        edits.push(room.edit(&secret, text).await);
        room.persisted(edits.last().unwrap().seq).await;
    }
    let stored = PgMessageStore::new(db.pool.clone()).find(room.id, MessageRef::Id(secret.id)).await.unwrap();
    assert_eq!(stored.as_ref(), Some(&edits[1].message), "stored as its last edit left it");

    let deletion = room.delete(&secret).await;
    room.persisted(deletion.seq).await;

    assert_erased(&room, &db, &secret, &edits, &deletion, &kept).await;
    persister.stop().await.unwrap();
}
