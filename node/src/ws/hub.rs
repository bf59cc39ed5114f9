//! Fan-out on one node: the node follows a room's live feed only while a connection here has
//! joined it, and hands each message to every such connection as bytes encoded once per codec.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use bytes::Bytes;
use chat_shared::domain::{Message, RoomId, Seq, UserId};
use chat_shared::error::Error;
use chat_shared::ports::{EventBus, EventStream, LiveFeed, LiveStream, MessageLog, RoomEvent};
use chat_shared::protocol::{Codec, MemberChange, PresenceState, ServerFrame, encode, encode_message_frame};
use futures::StreamExt;
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

/// What the hub pushes into a connection's queue.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A room's message, already encoded for the connection's codec.
    Message { room: RoomId, seq: Seq, frame: Bytes },
    /// A room event (presence, typing, read, member), encoded.
    Event(Bytes),
    /// The connection's user was removed from the room: it follows the room no more.
    Removed { room: RoomId },
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
        };
        let seq = next.message.seq;
        if let Some(last) = last_seq {
            if seq <= last {
                continue;
            }
            if next.previous_seq > last {
                metrics::counter!("chat_fanout_gaps_total").increment(1);
                match log.read_after(room, last, GAP_FILL_LIMIT).await {
                    Ok(missing) => {
                        for message in missing.into_iter().filter(|m| m.seq < seq) {
                            deliver(&subscribers, &message);
                        }
                    }
                    Err(err) => tracing::warn!(%room, error = %err, "could not fill a gap in the live feed"),
                }
            }
        }
        deliver(&subscribers, &next.message);
        last_seq = Some(seq);
    }
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
    let mut json: Option<Bytes> = None;
    let mut msgpack: Option<Bytes> = None;
    let subscribers = subscribers.read().unwrap_or_else(|e| e.into_inner());
    for subscriber in subscribers.iter() {
        if for_others && subscriber.user == about {
            continue;
        }
        let cache = match subscriber.codec {
            Codec::Json => &mut json,
            Codec::MsgPack => &mut msgpack,
        };
        let bytes = cache.get_or_insert_with(|| encode(subscriber.codec, &frame)).clone();
        let mut full = subscriber.queue.try_send(Outbound::Event(bytes)).is_err_and(is_full);
        if removed && subscriber.user == about {
            full |= subscriber.queue.try_send(Outbound::Removed { room }).is_err_and(is_full);
        }
        if full {
            subscriber.too_slow.cancel();
        }
    }
}

fn is_full(err: mpsc::error::TrySendError<Outbound>) -> bool {
    matches!(err, mpsc::error::TrySendError::Full(_))
}

fn deliver(subscribers: &Subscribers, message: &Message) {
    let started = Instant::now();
    let mut json: Option<Bytes> = None;
    let mut msgpack: Option<Bytes> = None;
    let subscribers = subscribers.read().unwrap_or_else(|e| e.into_inner());
    for subscriber in subscribers.iter() {
        let cache = match subscriber.codec {
            Codec::Json => &mut json,
            Codec::MsgPack => &mut msgpack,
        };
        let frame = cache.get_or_insert_with(|| encode_message_frame(subscriber.codec, message)).clone();
        let item = Outbound::Message { room: message.room_id, seq: message.seq, frame };
        if let Err(mpsc::error::TrySendError::Full(_)) = subscriber.queue.try_send(item) {
            subscriber.too_slow.cancel();
        }
    }
    metrics::histogram!("chat_fanout_seconds").record(started.elapsed().as_secs_f64());
    metrics::counter!("chat_fanout_deliveries_total").increment(subscribers.len() as u64);
}
