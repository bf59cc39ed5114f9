//! The message log on a replicated stream (three NATS servers, three replicas): a read made
//! right after an acknowledged append finds it, whichever server answers.

use chat_adapters::jetstream::JetStreamLog;
use chat_adapters::nats::{NatsLog, StreamSettings};
use chat_shared::domain::{Content, Entry, Message, MessageId, MessageKind, Metadata, RoomId, UserId};
use chat_shared::ports::{Appended, MessageLog};
use chat_tests::TestStream;
use chat_tests::nats_cluster::NatsCluster;

const APPENDS: usize = 1_000;

fn message(room: RoomId) -> Message {
    Message {
        id: MessageId::generate(),
        room_id: room,
        seq: 0,
        sender_id: UserId::generate(),
        content: Content::parse("hello").unwrap(),
        kind: MessageKind::text(),
        metadata: Metadata::parse(None).unwrap(),
        client_msg_id: None,
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

/// A join reads the room from the log and takes the newest message it finds as where the live
/// feed goes on. When the read asked a replica that had not applied the newest acknowledged
/// message yet (a direct get), it ended early and the message was lost to that connection:
/// 5 of these 1,000 reads did so before reads went to the stream's leader.
#[tokio::test]
async fn a_read_right_after_an_acknowledged_append_finds_it() {
    let nats = NatsCluster::start(3).await.unwrap();
    let stream = TestStream::new();
    let settings = StreamSettings { replicas: 3, ..StreamSettings::default() };
    let log = JetStreamLog::new(
        NatsLog::connect(&nats.urls(), &stream.prefix, settings).await.unwrap(),
        "persister",
    );
    let rooms: Vec<RoomId> = (0..3).map(|_| RoomId::generate()).collect();

    let mut missed = Vec::new();
    for i in 0..APPENDS {
        let message = message(rooms[i % rooms.len()]);
        let Appended::New(seq) = log.append(&message, &message.id.to_string()).await.unwrap() else {
            panic!("a fresh key was taken as a duplicate")
        };
        let read = log.read_after(message.room_id, seq - 1, 10).await.unwrap();
        if read.first().map(Entry::seq) != Some(seq) {
            missed.push(seq);
        }
    }
    assert!(
        missed.is_empty(),
        "{} of {APPENDS} reads missed the message just acknowledged: {missed:?}",
        missed.len()
    );
}
