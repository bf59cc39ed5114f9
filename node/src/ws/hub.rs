//! Fan-out on one node: the node follows a room's live feed only while a connection here has
//! joined it, and hands each message to every such connection as bytes encoded once per codec.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::ws::Message as WsMessage;
use bytes::Bytes;
use chat_shared::domain::{Message, RoomId, Seq, UserId};
use chat_shared::error::Error;
use chat_shared::ports::{EventBus, EventStream, LiveFeed, LiveStream, MessageLog, RoomEvent};
use chat_shared::protocol::{Codec, MemberChange, PresenceState, ServerFrame, encode, encode_message_frame};
use futures::StreamExt;
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use super::hot_metrics;

/// What the hub pushes into a connection's queue. Two words: a queue allocates its first
/// 32 slots when it is made, so every byte here costs 32 on every idle connection.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A room's message, shared by every connection with the same codec.
    Message(Arc<MessageFrame>),
    /// A room event (presence, typing, read, member), encoded.
    Event(Arc<Bytes>),
    /// The connection's user was removed from the room: it follows the room no more.
    Removed(Box<RoomId>),
}

/// A room's message, already encoded for one codec and made a socket message: every recipient
/// sends the same bytes, checked once. `previous` is the seq of the room's message before it
/// (0 for the first): a connection that has not been given that one has a gap to fill first.
#[derive(Debug)]
pub struct MessageFrame {
    pub room: RoomId,
    pub seq: Seq,
    pub previous: Seq,
    pub frame: WsMessage,
}

/// A connection as the hub sees it.
#[derive(Clone)]
pub struct Subscriber {
    pub id: u64,
    pub user: UserId,
    pub codec: Codec,
    pub queue: mpsc::Sender<Outbound>,
    /// Cancelled by the hub when the connection's queue overflows: it reads too slowly.
    pub too_slow: CancellationToken,
}

type Subscribers = Arc<RwLock<Vec<Subscriber>>>;

struct RoomEntry {
    subscribers: Subscribers,
    pump: tokio::task::JoinHandle<()>,
}

/// The rooms this node follows.
#[derive(Clone)]
pub struct Hub {
    feed: Arc<dyn LiveFeed>,
    log: Arc<dyn MessageLog>,
    events: Arc<dyn EventBus>,
    rooms: Arc<Mutex<HashMap<RoomId, RoomEntry>>>,
}

/// How many messages one gap fill reads back from the log at most.
const GAP_FILL_LIMIT: usize = 10_000;

impl Hub {
    pub fn new(feed: Arc<dyn LiveFeed>, log: Arc<dyn MessageLog>, events: Arc<dyn EventBus>) -> Self {
        Self { feed, log, events, rooms: Arc::new(Mutex::new(HashMap::new())) }
    }

    /// Adds a connection to a room. When this returns, every message the log stores from now
    /// on reaches the connection (or marks it too slow); earlier ones the caller reads itself.
    pub async fn subscribe(&self, room: RoomId, subscriber: Subscriber) -> Result<(), Error> {
        let mut rooms = self.rooms.lock().await;
        if let Some(entry) = rooms.get(&room) {
            write(&entry.subscribers).push(subscriber);
            return Ok(());
        }
        let live = self.feed.subscribe(room).await?;
        // Without events the room still works: messages matter, presence is best effort.
        let events = match self.events.subscribe(room).await {
            Ok(events) => events,
            Err(err) => {
                tracing::warn!(%room, error = %err, "room events unavailable");
                Box::pin(futures::stream::pending())
            }
        };
        let subscribers: Subscribers = Arc::new(RwLock::new(vec![subscriber]));
        let pump = tokio::spawn(pump(room, live, events, self.log.clone(), subscribers.clone()));
        rooms.insert(room, RoomEntry { subscribers, pump });
        metrics::gauge!("chat_rooms_followed").set(rooms.len() as f64);
        Ok(())
    }

    /// Removes a connection from a room; the node stops following a room nobody here watches.
    pub async fn unsubscribe(&self, room: RoomId, subscriber_id: u64) {
        let mut rooms = self.rooms.lock().await;
        let Some(entry) = rooms.get(&room) else { return };
        let now_empty = {
            let mut subscribers = write(&entry.subscribers);
            subscribers.retain(|s| s.id != subscriber_id);
            subscribers.is_empty()
        };
        if now_empty && let Some(entry) = rooms.remove(&room) {
            entry.pump.abort();
        }
        metrics::gauge!("chat_rooms_followed").set(rooms.len() as f64);
    }
}

fn write(subscribers: &Subscribers) -> std::sync::RwLockWriteGuard<'_, Vec<Subscriber>> {
    subscribers.write().unwrap_or_else(|e| e.into_inner())
}

/// Follows one room's feed and delivers in seq order, filling any gap from the log first;
/// passes the room's events on as they come.
async fn pump(
    room: RoomId,
    mut live: LiveStream,
    mut events: EventStream,
    log: Arc<dyn MessageLog>,
    subscribers: Subscribers,
) {
    let mut last_seq: Option<Seq> = None;
    let mut quiet_check = QuietCheck::default();
    loop {
        let next = tokio::select! {
            next = live.next() => match next {
                Some(next) => next,
                None => break,
            },
            Some(event) = events.next() => {
                deliver_event(&subscribers, room, &event);
                continue;
            }
            () = quiet_check.due() => {
                let Some(last) = last_seq else { continue };
                match log.read_after(room, last, GAP_FILL_LIMIT).await {
                    Ok(missed) => {
                        quiet_check.done();
                        if let Some(newest) = missed.last().map(|m| m.seq) {
                            metrics::counter!("chat_fanout_gaps_total").increment(1);
                            deliver_in_order(&subscribers, &missed, last);
                            last_seq = Some(newest);
                        }
                    }
                    Err(err) => {
                        tracing::warn!(%room, error = %err, "could not check the room's log for missed messages");
                        quiet_check.failed();
                    }
                }
                continue;
            }
        };
        let seq = next.message.seq;
        if let Some(last) = last_seq {
            if seq <= last {
                continue;
            }
            if next.previous_seq > last {
                metrics::counter!("chat_fanout_gaps_total").increment(1);
                match fill_gap(log.as_ref(), room, last, next.previous_seq).await {
                    Ok(missed) => deliver_in_order(&subscribers, &missed, last),
                    Err(err) => {
                        // Delivering on would skip messages for good: the room's connections
                        // are closed instead and resume with `since`, which reads the log.
                        tracing::error!(%room, error = %err, "could not fill a gap in the live feed");
                        metrics::counter!("chat_fanout_gap_fill_failures_total").increment(1);
                        close_all(&subscribers);
                    }
                }
            }
        }
        deliver(&subscribers, &next.message, next.previous_seq);
        last_seq = Some(seq);
        quiet_check.arm();
    }
}

/// How long a room's feed stays quiet before the node asks the log whether it missed the
/// room's newest message: a gap shows only with the message after it, and the last message
/// before a pause has none. One cheap read per pause, not per message.
const QUIET_CHECK_AFTER: Duration = Duration::from_secs(1);
/// The longest wait between checks while the log cannot be read: once it can again (a NATS
/// stream has elected its next leader), a message the feed dropped just before reaches the
/// room's connections within this. One read per followed room per wait, while it lasts.
const QUIET_CHECK_MAX_BACKOFF: Duration = Duration::from_secs(5);

/// When the pump next looks for messages the live feed dropped.
#[derive(Default)]
struct QuietCheck {
    due_at: Option<tokio::time::Instant>,
    backoff: Option<Duration>,
}

impl QuietCheck {
    /// A message came: look once the feed has been quiet for a while.
    fn arm(&mut self) {
        self.backoff = None;
        self.due_at = Some(tokio::time::Instant::now() + QUIET_CHECK_AFTER);
    }

    fn done(&mut self) {
        self.due_at = None;
        self.backoff = None;
    }

    /// The log could not be read: try again later, less often the longer it lasts.
    fn failed(&mut self) {
        let backoff = self.backoff.map_or(QUIET_CHECK_AFTER, |b| (b * 2).min(QUIET_CHECK_MAX_BACKOFF));
        self.backoff = Some(backoff);
        self.due_at = Some(tokio::time::Instant::now() + backoff);
    }

    async fn due(&self) {
        match self.due_at {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    }
}

/// Attempts at reading a gap back before giving up on it, and the pause after each failure.
const GAP_FILL_RETRIES: [Duration; 2] = [Duration::from_millis(50), Duration::from_millis(250)];

/// The room's messages after `last` up to `previous`, the seq the live feed names as the one
/// before its next message, read back from the log. A read that does not reach `previous`
/// missed something and is tried again; a gap often comes with a brief disconnection.
async fn fill_gap(
    log: &dyn MessageLog,
    room: RoomId,
    last: Seq,
    previous: Seq,
) -> Result<Vec<Message>, Error> {
    let mut pauses = GAP_FILL_RETRIES.iter();
    loop {
        let failure = match log.read_after(room, last, GAP_FILL_LIMIT).await {
            Ok(mut missed) => {
                missed.retain(|m| m.seq <= previous);
                if missed.last().map(|m| m.seq) == Some(previous) {
                    return Ok(missed);
                }
                Error::Internal(
                    format!(
                        "the log returned the gap up to {:?}, not {previous}",
                        missed.last().map(|m| m.seq)
                    )
                    .into(),
                )
            }
            Err(err) => err.into(),
        };
        match pauses.next() {
            Some(pause) => tokio::time::sleep(*pause).await,
            None => return Err(failure),
        }
    }
}

fn close_all(subscribers: &Subscribers) {
    let subscribers = subscribers.read().unwrap_or_else(|e| e.into_inner());
    subscribers.iter().for_each(|s| s.too_slow.cancel());
}

fn event_frame(room: RoomId, event: &RoomEvent) -> ServerFrame {
    match *event {
        RoomEvent::Presence { user_id, online } => ServerFrame::Presence {
            room,
            user_id,
            state: if online { PresenceState::Online } else { PresenceState::Offline },
        },
        RoomEvent::Typing { user_id } => ServerFrame::Typing { room, user_id },
        RoomEvent::Read { user_id, seq } => ServerFrame::Read { room, user_id, seq },
        RoomEvent::Member { user_id, added } => ServerFrame::Member {
            room,
            user_id,
            change: if added { MemberChange::Added } else { MemberChange::Removed },
        },
    }
}

/// Presence, typing and read events are for the others in the room; member events are for
/// everyone, and a removed member's connections stop following the room.
fn deliver_event(subscribers: &Subscribers, room: RoomId, event: &RoomEvent) {
    let (about, for_others) = match *event {
        RoomEvent::Presence { user_id, .. }
        | RoomEvent::Typing { user_id }
        | RoomEvent::Read { user_id, .. } => (user_id, true),
        RoomEvent::Member { user_id, .. } => (user_id, false),
    };
    let removed = matches!(event, RoomEvent::Member { added: false, .. });
    let frame = event_frame(room, event);
    let mut json: Option<Arc<Bytes>> = None;
    let mut msgpack: Option<Arc<Bytes>> = None;
    let subscribers = subscribers.read().unwrap_or_else(|e| e.into_inner());
    for subscriber in subscribers.iter() {
        if for_others && subscriber.user == about {
            continue;
        }
        let cache = match subscriber.codec {
            Codec::Json => &mut json,
            Codec::MsgPack => &mut msgpack,
        };
        let bytes = cache.get_or_insert_with(|| Arc::new(encode(subscriber.codec, &frame))).clone();
        let mut full = subscriber.queue.try_send(Outbound::Event(bytes)).is_err_and(is_full);
        if removed && subscriber.user == about {
            full |= subscriber.queue.try_send(Outbound::Removed(Box::new(room))).is_err_and(is_full);
        }
        if full {
            subscriber.too_slow.cancel();
        }
    }
}

fn is_full(err: mpsc::error::TrySendError<Outbound>) -> bool {
    matches!(err, mpsc::error::TrySendError::Full(_))
}

/// Delivers messages read back from the log: all of the room's messages after `last`, in order.
fn deliver_in_order(subscribers: &Subscribers, messages: &[Message], last: Seq) {
    let mut previous = last;
    for message in messages {
        deliver(subscribers, message, previous);
        previous = message.seq;
    }
}

/// The message encoded once for every recipient that speaks `codec`.
fn message_frame(codec: Codec, message: &Message, previous: Seq) -> Option<Arc<MessageFrame>> {
    let Some(frame) = super::ws_message(codec, encode_message_frame(codec, message)) else {
        tracing::error!(seq = message.seq, "a message did not encode as a frame");
        return None;
    };
    Some(Arc::new(MessageFrame { room: message.room_id, seq: message.seq, previous, frame }))
}

fn deliver(subscribers: &Subscribers, message: &Message, previous: Seq) {
    let started = Instant::now();
    let mut json: Option<Arc<MessageFrame>> = None;
    let mut msgpack: Option<Arc<MessageFrame>> = None;
    let subscribers = subscribers.read().unwrap_or_else(|e| e.into_inner());
    for subscriber in subscribers.iter() {
        let cache = match subscriber.codec {
            Codec::Json => &mut json,
            Codec::MsgPack => &mut msgpack,
        };
        if cache.is_none() {
            *cache = message_frame(subscriber.codec, message, previous);
        }
        let Some(frame) = cache else { continue };
        if let Err(mpsc::error::TrySendError::Full(_)) =
            subscriber.queue.try_send(Outbound::Message(frame.clone()))
        {
            subscriber.too_slow.cancel();
        }
    }
    hot_metrics::FANOUT_SECONDS.record(started.elapsed().as_secs_f64());
    hot_metrics::FANOUT_DELIVERIES.increment(subscribers.len() as u64);
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use async_trait::async_trait;
    use chat_shared::domain::{Content, MessageId, MessageKind, Metadata};
    use chat_shared::memory::{MemoryEventBus, MemoryMessageLog};
    use chat_shared::ports::{Appended, LiveMessage, LogError};
    use chrono::Utc;

    use super::*;

    /// A live feed that hands over exactly what the test pushes: it can drop any message.
    struct ScriptedFeed(std::sync::Mutex<Option<mpsc::UnboundedReceiver<LiveMessage>>>);

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

        async fn get(&self, seq: Seq) -> Result<Option<Message>, LogError> {
            self.log.get(seq).await
        }

        async fn read_after(&self, room: RoomId, after: Seq, limit: usize) -> Result<Vec<Message>, LogError> {
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
        live: mpsc::UnboundedSender<LiveMessage>,
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
        async fn append(&self, content: &str) -> LiveMessage {
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
            };
            let Appended::New(seq) = self.log.append(&message, &message.id.to_string()).await.unwrap() else {
                unreachable!("fresh dedup key")
            };
            let previous_seq = self.log.read_after(self.id, 0, 1000).await.unwrap();
            let previous_seq = previous_seq.iter().rev().nth(1).map_or(0, |m| m.seq);
            LiveMessage { message: Message { seq, ..message }, previous_seq }
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
        let (one, two, three) = (first.message.seq, dropped.message.seq, third.message.seq);
        assert_eq!(got, [(one, first.previous_seq), (two, one), (three, two)]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_message_before_a_pause_arrives_even_when_the_feed_dropped_it() {
        let mut room = Room::followed().await;
        let first = room.append("one").await;
        let dropped = room.append("two").await;

        room.live.send(first.clone()).unwrap();
        assert_eq!(room.delivered_seq().await, first.message.seq);

        // Nothing follows the dropped message: only the check after the pause finds it.
        assert_eq!(room.delivered().await, (dropped.message.seq, first.message.seq));
        tokio::time::sleep(QUIET_CHECK_AFTER * 3).await;
        assert!(room.queue.try_recv().is_err(), "delivered once only");
    }

    #[tokio::test(start_paused = true)]
    async fn the_check_after_a_pause_retries_while_the_log_is_down() {
        let mut room = Room::followed().await;
        let first = room.append("one").await;
        let dropped = room.append("two").await;
        room.log.broken.store(true, Ordering::SeqCst);

        room.live.send(first.clone()).unwrap();
        assert_eq!(room.delivered_seq().await, first.message.seq);
        tokio::time::sleep(QUIET_CHECK_AFTER * 4).await;
        assert!(room.queue.try_recv().is_err());

        room.log.broken.store(false, Ordering::SeqCst);
        assert_eq!(room.delivered_seq().await, dropped.message.seq);
        assert!(!room.too_slow.is_cancelled());
    }

    #[tokio::test(start_paused = true)]
    async fn a_gap_that_cannot_be_read_back_closes_the_rooms_connections_to_resume() {
        let mut room = Room::followed().await;
        let first = room.append("one").await;
        room.append("two").await;
        let third = room.append("three").await;

        room.live.send(first.clone()).unwrap();
        assert_eq!(room.delivered_seq().await, first.message.seq);
        room.log.broken.store(true, Ordering::SeqCst);
        room.live.send(third).unwrap();

        tokio::time::timeout(Duration::from_secs(5), room.too_slow.cancelled()).await.expect("closed");
    }

    #[tokio::test(start_paused = true)]
    async fn a_gap_read_back_incompletely_closes_the_rooms_connections_instead_of_skipping() {
        let mut room = Room::followed().await;
        let first = room.append("one").await;
        room.append("two").await;
        let third = room.append("three").await;

        room.live.send(first.clone()).unwrap();
        assert_eq!(room.delivered_seq().await, first.message.seq);
        room.log.blind.store(true, Ordering::SeqCst);
        room.live.send(third).unwrap();

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
                            appended.push(live.message.seq);
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
}
