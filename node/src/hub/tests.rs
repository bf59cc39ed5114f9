//! The hub against a scripted live feed and a log that can fail.

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chat_shared::domain::{Content, MessageId, MessageKind, Metadata};
use chat_shared::memory::{MemoryEventBus, MemoryMessageLog};
use chat_shared::ports::{Appended, LiveEntry, LogError};
use chrono::Utc;

use std::time::Duration;

use chat_shared::domain::{Change, Entry, Message, Reaction, Seq, UserId};
use chat_shared::ports::LiveStream;
use chat_shared::protocol::Codec;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::pump::QUIET_CHECK_AFTER;
use super::*;

/// A live feed that hands over exactly what the test pushes: it can drop any message.
struct ScriptedFeed(std::sync::Mutex<Option<mpsc::UnboundedReceiver<LiveEntry>>>);

#[async_trait]
impl LiveFeed for ScriptedFeed {
    async fn subscribe(&self, _room: RoomId) -> Result<LiveStream, LogError> {
        let mut receiver = self.0.lock().unwrap().take().expect("one subscription per test");
        Ok(Box::pin(futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))))
    }
}

/// The in-memory log, whose reads fail while `broken` is set and find nothing while
/// `blind` is set (as a read that wrongly believes nothing is pending).
#[derive(Default)]
struct FlakyLog {
    log: MemoryMessageLog,
    broken: AtomicBool,
    blind: AtomicBool,
}

#[async_trait]
impl MessageLog for FlakyLog {
    async fn append(&self, message: &Message, dedup_key: &str) -> Result<Appended, LogError> {
        self.log.append(message, dedup_key).await
    }

    async fn append_change(&self, change: &Change, dedup_key: &str) -> Result<Appended, LogError> {
        self.log.append_change(change, dedup_key).await
    }

    async fn append_reaction(&self, reaction: &Reaction, dedup_key: &str) -> Result<Appended, LogError> {
        self.log.append_reaction(reaction, dedup_key).await
    }

    async fn get(&self, seq: Seq) -> Result<Option<Entry>, LogError> {
        self.log.get(seq).await
    }

    async fn head(&self) -> Result<Seq, LogError> {
        self.log.head().await
    }

    async fn persisted_through(&self) -> Result<Seq, LogError> {
        self.log.persisted_through().await
    }

    async fn retained_from(&self) -> Result<Seq, LogError> {
        self.log.retained_from().await
    }

    async fn read_after(&self, room: RoomId, after: Seq, limit: usize) -> Result<Vec<Entry>, LogError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(LogError::Unavailable("the log is down".into()));
        }
        if self.blind.load(Ordering::SeqCst) {
            return Ok(Vec::new());
        }
        self.log.read_after(room, after, limit).await
    }

    async fn last_seq(&self, room: RoomId) -> Result<Seq, LogError> {
        self.log.last_seq(room).await
    }
}

struct Room {
    id: RoomId,
    log: Arc<FlakyLog>,
    live: mpsc::UnboundedSender<LiveEntry>,
    queue: mpsc::Receiver<Outbound>,
    too_slow: CancellationToken,
    _hub: Hub,
}

impl Room {
    async fn followed() -> Self {
        let (live, receiver) = mpsc::unbounded_channel();
        let log = Arc::new(FlakyLog::default());
        let hub = Hub::new(
            Arc::new(ScriptedFeed(std::sync::Mutex::new(Some(receiver)))),
            log.clone(),
            Arc::new(MemoryEventBus::default()),
        );
        let (queue_tx, queue) = mpsc::channel(64);
        let too_slow = CancellationToken::new();
        let subscriber = Subscriber {
            id: 1,
            user: UserId::generate(),
            codec: Codec::Json,
            queue: queue_tx,
            too_slow: too_slow.clone(),
        };
        let id = RoomId::generate();
        hub.subscribe(id, subscriber).await.unwrap();
        Self { id, log, live, queue, too_slow, _hub: hub }
    }

    /// Stores a message; returns what the live feed would carry for it.
    async fn append(&self, content: &str) -> LiveEntry {
        let message = Message {
            id: MessageId::generate(),
            room_id: self.id,
            seq: 0,
            sender_id: UserId::generate(),
            content: Content::parse(content).unwrap(),
            kind: MessageKind::text(),
            metadata: Metadata::parse(None).unwrap(),
            client_msg_id: None,
            created_at: Utc::now(),
            edited_at: None,
            deleted: false,
            deleted_by: None,
            deleted_at: None,
            changed_seq: 0,
            reactions: Vec::new(),
            reactions_seq: 0,
            reply_to: None,
            reply_count: 0,
        };
        let Appended::New(seq) = self.log.append(&message, &message.id.to_string()).await.unwrap() else {
            unreachable!("fresh dedup key")
        };
        let previous_seq = self.log.read_after(self.id, 0, 1000).await.unwrap();
        let previous_seq = previous_seq.iter().rev().nth(1).map_or(0, Entry::seq);
        LiveEntry { entry: Entry::Message(Message { seq, ..message }), previous_seq }
    }

    async fn delivered_seq(&mut self) -> Seq {
        self.delivered().await.0
    }

    /// The next delivery's seq and the seq it names as the room's message before it.
    async fn delivered(&mut self) -> (Seq, Seq) {
        let next = tokio::time::timeout(Duration::from_secs(30), self.queue.recv()).await;
        match next.expect("a delivery in time").expect("the queue is open") {
            Outbound::Message(frame) => (frame.seq, frame.previous),
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

#[test]
fn a_queued_item_is_two_words() {
    // Each connection's queue holds 32 of these from the start (tokio's mpsc block).
    assert_eq!(std::mem::size_of::<Outbound>(), 16);
}

#[tokio::test(start_paused = true)]
async fn a_gap_in_the_feed_is_filled_from_the_log_in_order() {
    let mut room = Room::followed().await;
    let first = room.append("one").await;
    let dropped = room.append("two").await;
    let third = room.append("three").await;

    room.live.send(first.clone()).unwrap();
    room.live.send(third.clone()).unwrap();

    // Each names the one before it, so a connection can tell whether it has that one.
    let got = [room.delivered().await, room.delivered().await, room.delivered().await];
    let (one, two, three) = (first.entry.seq(), dropped.entry.seq(), third.entry.seq());
    assert_eq!(got, [(one, first.previous_seq), (two, one), (three, two)]);
}

#[tokio::test(start_paused = true)]
async fn the_last_message_before_a_pause_arrives_even_when_the_feed_dropped_it() {
    let mut room = Room::followed().await;
    let first = room.append("one").await;
    let dropped = room.append("two").await;

    room.live.send(first.clone()).unwrap();
    assert_eq!(room.delivered_seq().await, first.entry.seq());

    // Nothing follows the dropped message: only the check after the pause finds it.
    assert_eq!(room.delivered().await, (dropped.entry.seq(), first.entry.seq()));
    tokio::time::sleep(QUIET_CHECK_AFTER * 3).await;
    assert!(room.queue.try_recv().is_err(), "delivered once only");
}

#[tokio::test(start_paused = true)]
async fn a_pause_check_that_found_a_dropped_message_checks_again_after_the_next_pause() {
    let mut room = Room::followed().await;
    let first = room.append("one").await;
    let dropped = room.append("two").await;
    room.live.send(first.clone()).unwrap();
    assert_eq!(room.delivered_seq().await, first.entry.seq());
    assert_eq!(room.delivered_seq().await, dropped.entry.seq(), "the first check finds it");

    // Appended after that check read the log, and dropped by the feed too: nothing live will
    // ever follow it, so only another check can find it.
    let dropped_again = room.append("three").await;
    assert_eq!(room.delivered().await, (dropped_again.entry.seq(), dropped.entry.seq()));
}

#[tokio::test(start_paused = true)]
async fn the_check_after_a_pause_retries_while_the_log_is_down() {
    let mut room = Room::followed().await;
    let first = room.append("one").await;
    let dropped = room.append("two").await;
    room.log.broken.store(true, Ordering::SeqCst);

    room.live.send(first.clone()).unwrap();
    assert_eq!(room.delivered_seq().await, first.entry.seq());
    tokio::time::sleep(QUIET_CHECK_AFTER * 4).await;
    assert!(room.queue.try_recv().is_err());

    room.log.broken.store(false, Ordering::SeqCst);
    assert_eq!(room.delivered_seq().await, dropped.entry.seq());
    assert!(!room.too_slow.is_cancelled());
}

/// Follows a room, delivers its first message, then makes `fault` true in the log and sends the
/// third message live: the second is a gap the log must fill.
async fn a_gap_with_the_log(fault: impl Fn(&FlakyLog) -> &AtomicBool) -> Room {
    let mut room = Room::followed().await;
    let first = room.append("one").await;
    room.append("two").await;
    let third = room.append("three").await;

    room.live.send(first.clone()).unwrap();
    assert_eq!(room.delivered_seq().await, first.entry.seq());
    fault(&room.log).store(true, Ordering::SeqCst);
    room.live.send(third).unwrap();
    room
}

#[tokio::test(start_paused = true)]
async fn a_gap_that_cannot_be_read_back_closes_the_rooms_connections_to_resume() {
    let room = a_gap_with_the_log(|log| &log.broken).await;
    tokio::time::timeout(Duration::from_secs(5), room.too_slow.cancelled()).await.expect("closed");
}

#[tokio::test(start_paused = true)]
async fn a_gap_read_back_incompletely_closes_the_rooms_connections_instead_of_skipping() {
    let room = a_gap_with_the_log(|log| &log.blind).await;
    tokio::time::timeout(Duration::from_secs(5), room.too_slow.cancelled()).await.expect("closed");
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]

        /// Messages are appended in turn, the pump running between appends, and the live
        /// feed carries any subset of them, in order.
        #[test]
        fn from_the_first_message_fed_on_every_message_arrives_once_in_order_naming_the_one_before(
            fed in prop::collection::vec(any::<bool>(), 1..40),
        ) {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
            let (appended, got) = runtime.block_on(async {
                let mut room = Room::followed().await;
                let mut appended = Vec::new();
                let mut fed_yet = false;
                for (i, feed) in fed.iter().enumerate() {
                    let live = room.append(&format!("message {i}")).await;
                    // Messages before the first fed one are the joining connection's to read.
                    if *feed && !fed_yet {
                        appended.push(live.previous_seq);
                    }
                    fed_yet |= *feed;
                    if fed_yet {
                        appended.push(live.entry.seq());
                    }
                    if *feed {
                        room.live.send(live).unwrap();
                    }
                    tokio::task::yield_now().await;
                }
                let mut got = Vec::new();
                for _ in appended.iter().skip(1) {
                    got.push(room.delivered().await);
                }
                tokio::time::sleep(QUIET_CHECK_AFTER * 3).await;
                assert!(room.queue.try_recv().is_err(), "delivered more than once");
                assert!(!room.too_slow.is_cancelled());
                (appended, got)
            });
            // `appended` starts with the seq before the first fed message (0 for none).
            let got_seqs: Vec<Seq> = got.iter().map(|(seq, _)| *seq).collect();
            prop_assert_eq!(&got_seqs[..], appended.get(1..).unwrap_or_default());
            for (delivered, before) in got.iter().zip(&appended) {
                prop_assert_eq!(delivered.1, *before, "each names the room's message before it");
            }
        }
    }
}
