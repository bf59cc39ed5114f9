//! The `MessageLog` and `LiveFeed` contract: JetStream in a cluster, SQLite when embedded.

use std::sync::Arc;
use std::time::Duration;

use chat_adapters::jetstream::JetStreamLog;
use chat_adapters::nats::{NatsLog, StreamSettings};
use chat_adapters::sqlite::SqliteMessageLog;
use chat_shared::domain::{Change, ChangeKind, ClientMsgId, Content, Entry, Message, RoomId, Seq};
use chat_shared::memory::MemoryMessageLog;
use chat_shared::ports::{Appended, LiveEntry, LiveFeed, LiveStream, MessageLog};
use chat_tests::embedded::DataDir;
use chat_tests::{TestStream, nats_url};
use futures::StreamExt;

use super::{new_message, open_sqlite};

contract_tests!(Logs [jetstream, sqlite] [
    appends_get_increasing_seqs_and_read_back_by_seq_and_by_room,
    a_repeated_dedup_key_stores_nothing_and_returns_the_first_seq,
    concurrent_appends_each_get_a_seq_of_their_own,
    the_live_feed_delivers_a_rooms_new_messages_with_the_seq_before_each,
    a_reopened_log_goes_on_from_its_seqs_and_remembers_its_dedup_keys,
    changes_are_entries_between_messages_read_back_and_delivered_live,
    a_repeated_dedup_key_of_a_change_stores_nothing,
]);

// The in-memory log of tests keeps nothing to reopen.
contract_tests!(Logs [memory] [
    appends_get_increasing_seqs_and_read_back_by_seq_and_by_room,
    a_repeated_dedup_key_stores_nothing_and_returns_the_first_seq,
    concurrent_appends_each_get_a_seq_of_their_own,
    the_live_feed_delivers_a_rooms_new_messages_with_the_seq_before_each,
    changes_are_entries_between_messages_read_back_and_delivered_live,
    a_repeated_dedup_key_of_a_change_stores_nothing,
]);

/// A log and its live feed on a place of this test's own.
pub struct Logs {
    log: Arc<dyn MessageLog>,
    live: Arc<dyn LiveFeed>,
    place: Place,
}

/// Where a log keeps its messages; removed when the test ends.
enum Place {
    Stream(TestStream),
    Folder(DataDir),
    /// The process's memory: gone with the log.
    Memory,
}

impl Logs {
    async fn jetstream() -> Self {
        Self::on(Place::Stream(TestStream::new())).await
    }

    async fn sqlite() -> Self {
        Self::on(Place::Folder(DataDir::new())).await
    }

    async fn memory() -> Self {
        Self::on(Place::Memory).await
    }

    async fn on(place: Place) -> Self {
        let (log, live) = open(&place).await;
        Self { log, live, place }
    }

    /// The same log opened anew, as a restarted process opens it.
    async fn reopened(&self) -> (Arc<dyn MessageLog>, Arc<dyn LiveFeed>) {
        open(&self.place).await
    }
}

async fn open(place: &Place) -> (Arc<dyn MessageLog>, Arc<dyn LiveFeed>) {
    match place {
        Place::Stream(stream) => {
            let nats = NatsLog::connect(&nats_url(), &stream.prefix, StreamSettings::default())
                .await
                .expect("a stream on the test NATS server");
            let log = Arc::new(JetStreamLog::new(nats, "persister"));
            (log.clone(), log)
        }
        Place::Folder(dir) => {
            let log = Arc::new(SqliteMessageLog::new(open_sqlite(dir).await));
            (log.clone(), log)
        }
        Place::Memory => {
            let log = Arc::new(MemoryMessageLog::default());
            (log.clone(), log)
        }
    }
}

/// Appends `message` under a fresh dedup key and returns it as stored.
async fn append(log: &dyn MessageLog, message: Message) -> Message {
    let key = message.id.to_string();
    match log.append(&message, &key).await.unwrap() {
        Appended::New(seq) => Message { seq, ..message },
        Appended::Duplicate(seq) => panic!("a fresh key was taken as a duplicate of {seq}"),
    }
}

async fn next(live: &mut LiveStream) -> LiveEntry {
    tokio::time::timeout(Duration::from_secs(5), live.next())
        .await
        .expect("a live message within 5s")
        .expect("an open live feed")
}

fn text(room: RoomId, content: &str) -> Message {
    new_message(room, 0, content, None)
}

fn m(message: &Message) -> Entry {
    Entry::Message(message.clone())
}

fn edit_of(message: &Message, content: &str) -> Change {
    let edited = message.edited(Content::parse(content).unwrap(), None, super::now());
    let client_change_id = Some(ClientMsgId::parse("e-1").unwrap());
    Change { kind: ChangeKind::Edited, seq: 0, actor: message.sender_id, client_change_id, message: edited }
}

/// The live entry's message, for a feed expected to carry only messages.
fn message_of(live: LiveEntry) -> (Message, Seq) {
    match live.entry {
        Entry::Message(message) => (message, live.previous_seq),
        other => panic!("another entry where a message was expected: {other:?}"),
    }
}

async fn appends_get_increasing_seqs_and_read_back_by_seq_and_by_room(logs: &Logs) {
    let (room, other) = (RoomId::generate(), RoomId::generate());
    assert_eq!(logs.log.head().await.unwrap(), 0, "nothing appended yet");
    let a1 = append(&*logs.log, text(room, "a1")).await;
    let b1 = append(&*logs.log, text(other, "b1")).await;
    assert_eq!(logs.log.head().await.unwrap(), b1.seq, "the newest entry of any room");
    let a2 = append(&*logs.log, text(room, "a2")).await;
    assert_eq!(logs.log.head().await.unwrap(), a2.seq);
    assert!(a1.seq > 0 && a1.seq < b1.seq && b1.seq < a2.seq, "{} {} {}", a1.seq, b1.seq, a2.seq);
    assert_eq!(logs.log.get(b1.seq).await.unwrap(), Some(m(&b1)));
    assert_eq!(logs.log.get(a2.seq + 1000).await.unwrap(), None);
    assert_eq!(logs.log.read_after(room, 0, 10).await.unwrap(), [m(&a1), m(&a2)]);
    assert_eq!(logs.log.read_after(room, 0, 1).await.unwrap(), [m(&a1)]);
    assert_eq!(logs.log.read_after(room, a1.seq, 10).await.unwrap(), [m(&a2)]);
    assert_eq!(logs.log.read_after(room, a2.seq, 10).await.unwrap(), []);
    assert_eq!(logs.log.read_after(other, b1.seq, 10).await.unwrap(), []);
}

async fn a_repeated_dedup_key_stores_nothing_and_returns_the_first_seq(logs: &Logs) {
    let room = RoomId::generate();
    let key = format!("{room}:client-1");
    let Appended::New(seq) = logs.log.append(&text(room, "first"), &key).await.unwrap() else {
        panic!("the first append is new");
    };
    assert_eq!(logs.log.append(&text(room, "retried"), &key).await.unwrap(), Appended::Duplicate(seq));
    let stored = logs.log.read_after(room, 0, 10).await.unwrap();
    assert_eq!(stored.len(), 1);
    let Entry::Message(first) = &stored[0] else { panic!("a message") };
    assert_eq!((first.seq, first.content.as_str()), (seq, "first"));
}

async fn concurrent_appends_each_get_a_seq_of_their_own(logs: &Logs) {
    let room = RoomId::generate();
    let messages: Vec<Message> = (0..50).map(|n| text(room, &format!("m{n}"))).collect();
    let stored = futures::future::join_all(messages.into_iter().map(|m| append(&*logs.log, m))).await;
    let mut seqs: Vec<Seq> = stored.iter().map(|m| m.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 50);
    let read: Vec<Seq> = logs.log.read_after(room, 0, 100).await.unwrap().iter().map(Entry::seq).collect();
    assert_eq!(read, seqs);
}

async fn the_live_feed_delivers_a_rooms_new_messages_with_the_seq_before_each(logs: &Logs) {
    let (room, other) = (RoomId::generate(), RoomId::generate());
    let before = append(&*logs.log, text(room, "before")).await;
    let mut live = logs.live.subscribe(room).await.unwrap();
    let a1 = append(&*logs.log, text(room, "a1")).await;
    append(&*logs.log, text(other, "elsewhere")).await;
    let a2 = append(&*logs.log, text(room, "a2")).await;
    assert_eq!(message_of(next(&mut live).await), (a1.clone(), before.seq));
    assert_eq!(message_of(next(&mut live).await), (a2, a1.seq));

    let mut fresh_room = logs.live.subscribe(other).await.unwrap();
    let quiet = RoomId::generate();
    let mut never = logs.live.subscribe(quiet).await.unwrap();
    let b2 = append(&*logs.log, text(other, "b2")).await;
    assert_eq!(message_of(next(&mut fresh_room).await).0, b2);
    let first_in_quiet = append(&*logs.log, text(quiet, "q1")).await;
    assert_eq!(message_of(next(&mut never).await), (first_in_quiet, 0));
}

async fn a_reopened_log_goes_on_from_its_seqs_and_remembers_its_dedup_keys(logs: &Logs) {
    let room = RoomId::generate();
    let first = text(room, "before the restart");
    let Appended::New(seq) = logs.log.append(&first, "key-1").await.unwrap() else {
        panic!("the first append is new");
    };
    let (log, live) = logs.reopened().await;
    let Some(Entry::Message(stored)) = log.get(seq).await.unwrap() else { panic!("the message") };
    assert_eq!(stored.id, first.id);
    assert_eq!(log.append(&text(room, "retried"), "key-1").await.unwrap(), Appended::Duplicate(seq));
    let mut feed = live.subscribe(room).await.unwrap();
    let after = append(&*log, text(room, "after the restart")).await;
    assert!(after.seq > seq);
    assert_eq!(message_of(next(&mut feed).await), (after, seq));
}

async fn changes_are_entries_between_messages_read_back_and_delivered_live(logs: &Logs) {
    let room = RoomId::generate();
    let first = append(&*logs.log, text(room, "first")).await;
    let mut live = logs.live.subscribe(room).await.unwrap();
    let change = edit_of(&first, "first, edited");
    let Appended::New(change_seq) = logs.log.append_change(&change, "change-1").await.unwrap() else {
        panic!("the first append of a change is new");
    };
    let second = append(&*logs.log, text(room, "second")).await;
    assert!(first.seq < change_seq && change_seq < second.seq);

    let stored = change.at_seq(change_seq);
    assert_eq!(stored.message.changed_seq, change_seq);
    assert_eq!(logs.log.get(change_seq).await.unwrap(), Some(Entry::Change(stored.clone())));
    let read = logs.log.read_after(room, 0, 10).await.unwrap();
    assert_eq!(read, [m(&first), Entry::Change(stored.clone()), m(&second)]);
    assert_eq!(logs.log.last_seq(room).await.unwrap(), second.seq);

    let delivered = next(&mut live).await;
    assert_eq!((delivered.entry, delivered.previous_seq), (Entry::Change(stored), first.seq));
    assert_eq!(message_of(next(&mut live).await), (second, change_seq));
}

async fn a_repeated_dedup_key_of_a_change_stores_nothing(logs: &Logs) {
    let room = RoomId::generate();
    let first = append(&*logs.log, text(room, "first")).await;
    let Appended::New(seq) = logs.log.append_change(&edit_of(&first, "edited"), "change-1").await.unwrap()
    else {
        panic!("the first append of a change is new");
    };
    let retried = logs.log.append_change(&edit_of(&first, "edited again"), "change-1").await.unwrap();
    assert_eq!(retried, Appended::Duplicate(seq));
    assert_eq!(logs.log.read_after(room, first.seq, 10).await.unwrap().len(), 1);
}
