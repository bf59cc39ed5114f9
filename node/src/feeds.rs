//! Users' feeds on one node: the node follows a user's feed only while it holds a socket of
//! theirs, and hands each event to every such socket as bytes encoded once per codec.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use bytes::Bytes;
use chat_shared::domain::{SocketId, UserId};
use chat_shared::ports::{UserEvent, UserEventStream, UserFeed};
use chat_shared::protocol::{Codec, ServerFrame, encode};
use futures::StreamExt;
use tokio::sync::{OnceCell, mpsc};
use tokio_util::sync::CancellationToken;

use crate::hub::{Outbound, Subscriber};
use crate::unread::{self, Tell, UnreadCounting};

/// A socket following its user's feed.
#[derive(Clone)]
struct FeedSocket {
    socket: SocketId,
    subscriber: Subscriber,
    /// Whether it asked for `unread` events (`rooms` with `unread: true`).
    counts_unread: bool,
}

type Sockets = Arc<RwLock<Vec<FeedSocket>>>;

struct UserEntry {
    sockets: Sockets,
    /// Set once the feed is followed: every socket of the user waits for it, so none goes on
    /// before the subscription is in place.
    followed: Arc<OnceCell<()>>,
    /// Ends the user's pump when their last socket here goes.
    stop: CancellationToken,
    /// The task counting the user's unread messages, once a socket asked for them.
    counting: Arc<OnceLock<mpsc::UnboundedSender<unread::Input>>>,
}

/// The feeds this node follows.
#[derive(Clone)]
pub struct Feeds {
    feed: Arc<dyn UserFeed>,
    users: Arc<Mutex<HashMap<UserId, UserEntry>>>,
    /// Keeps each followed user's unread counts and sends them `unread`; without it, none.
    unread: Option<UnreadCounting>,
}

impl Feeds {
    pub fn new(feed: Arc<dyn UserFeed>) -> Self {
        Self { feed, users: Arc::default(), unread: None }
    }

    /// Counts unread messages live for every user followed here.
    pub fn counting_unread(self, counting: UnreadCounting) -> Self {
        Self { unread: Some(counting), ..self }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, UserEntry>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands the user's events to `subscriber` from now on. When this returns, whatever the
    /// feed carries from now on reaches the socket, unless the feed is unavailable: then the
    /// socket goes without (logged), and the next socket of the user to arrive tries again.
    pub async fn follow(&self, socket: SocketId, subscriber: Subscriber) {
        let user = subscriber.user;
        let (sockets, followed, stop, counting) = {
            let mut users = self.lock();
            let entry = users.entry(user).or_insert_with(|| UserEntry {
                sockets: Arc::default(),
                followed: Arc::default(),
                stop: CancellationToken::new(),
                counting: Arc::default(),
            });
            write(&entry.sockets).push(FeedSocket { socket, subscriber, counts_unread: false });
            let held =
                (entry.sockets.clone(), entry.followed.clone(), entry.stop.clone(), entry.counting.clone());
            metrics::gauge!("chat_user_feeds_followed").set(users.len() as f64);
            held
        };
        let subscribed = followed
            .get_or_try_init(|| async {
                let events = self.feed.subscribe(user).await?;
                tokio::spawn(pump(user, events, sockets, stop, counting));
                Ok::<(), chat_shared::ports::FeedError>(())
            })
            .await;
        if let Err(err) = subscribed {
            tracing::warn!(%user, error = %err, "user feed unavailable for this socket");
        }
    }

    /// Sends the socket `unread` events from now on, starting the count of its user's unread
    /// messages here if no socket of theirs asked before. Right after, every socket that asked
    /// hears the count of each room that has unread messages.
    pub fn count_unread(&self, user: UserId, socket: SocketId) {
        let Some(counting) = &self.unread else { return };
        let users = self.lock();
        let Some(entry) = users.get(&user) else { return };
        if let Some(follower) = write(&entry.sockets).iter_mut().find(|s| s.socket == socket) {
            follower.counts_unread = true;
        }
        let input = entry.counting.get_or_init(|| {
            let (input, inputs) = mpsc::unbounded_channel();
            let to_sockets = entry.sockets.clone();
            let tell: Tell =
                Arc::new(move |frame| deliver_frame(&to_sockets, frame, Recipients::CountingUnread));
            tokio::spawn(unread::count(counting.clone(), user, inputs, tell, entry.stop.clone()));
            input
        });
        // Fails only once the task has ended, with the user's last socket here.
        let _ = input.send(unread::Input::TellAll);
    }

    /// Stops handing the user's events to the socket; the node stops following a feed whose
    /// user has no socket here any more.
    pub fn unfollow(&self, user: UserId, socket: SocketId) {
        let mut users = self.lock();
        let Some(entry) = users.get(&user) else { return };
        let now_empty = {
            let mut sockets = write(&entry.sockets);
            sockets.retain(|s| s.socket != socket);
            sockets.is_empty()
        };
        if now_empty && let Some(entry) = users.remove(&user) {
            // A pump started after this (by a follow still subscribing) ends at once too.
            entry.stop.cancel();
        }
        metrics::gauge!("chat_user_feeds_followed").set(users.len() as f64);
    }
}

fn write(sockets: &Sockets) -> std::sync::RwLockWriteGuard<'_, Vec<FeedSocket>> {
    sockets.write().unwrap_or_else(|e| e.into_inner())
}

/// Hands the user's events to their sockets, and to the task counting their unread messages.
async fn pump(
    user: UserId,
    mut events: UserEventStream,
    sockets: Sockets,
    stop: CancellationToken,
    counting: Arc<OnceLock<mpsc::UnboundedSender<unread::Input>>>,
) {
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => return,
            event = events.next() => event,
        };
        let Some(event) = event else {
            tracing::warn!(%user, "user feed ended");
            return;
        };
        let (frame, skip) = frame(user, &event);
        deliver_frame(&sockets, &frame, Recipients::AllBut(skip));
        if let Some(counting) = counting.get() {
            // Fails only once the counting task has ended, with the feed.
            let _ = counting.send(unread::Input::Event(event));
        }
    }
}

/// The frame a socket of `user` receives for `event`, and the socket that needs none.
fn frame(user: UserId, event: &UserEvent) -> (ServerFrame, Option<SocketId>) {
    match event {
        UserEvent::RoomAdded { room } => (ServerFrame::RoomAdded { room: room.clone() }, None),
        UserEvent::RoomRemoved { room_id, banned } => {
            (ServerFrame::RoomRemoved { room: *room_id, banned: *banned }, None)
        }
        UserEvent::Muted { room_id, until } => (ServerFrame::Muted { room: *room_id, until: *until }, None),
        UserEvent::RoomUpdated { room } => (ServerFrame::RoomUpdated { room: room.clone() }, None),
        UserEvent::Read { room_id, seq, origin } => {
            (ServerFrame::Read { room: *room_id, user_id: user, seq: *seq }, *origin)
        }
    }
}

/// Which of the user's sockets a frame is for.
enum Recipients {
    /// Every one but the socket that caused the event, if any.
    AllBut(Option<SocketId>),
    /// Those that asked for `unread` events.
    CountingUnread,
}

/// Sends `frame` to the user's sockets that `to` names, encoded once per codec.
fn deliver_frame(sockets: &Sockets, frame: &ServerFrame, to: Recipients) {
    let mut json: Option<Arc<Bytes>> = None;
    let mut msgpack: Option<Arc<Bytes>> = None;
    let sockets = sockets.read().unwrap_or_else(|e| e.into_inner());
    for FeedSocket { socket, subscriber, counts_unread } in sockets.iter() {
        let skip = match to {
            Recipients::AllBut(skip) => Some(*socket) == skip,
            Recipients::CountingUnread => !counts_unread,
        };
        if skip {
            continue;
        }
        let cache = match subscriber.codec {
            Codec::Json => &mut json,
            Codec::MsgPack => &mut msgpack,
        };
        let bytes = cache.get_or_insert_with(|| Arc::new(encode(subscriber.codec, frame))).clone();
        if let Err(mpsc::error::TrySendError::Full(_)) = subscriber.queue.try_send(Outbound::Event(bytes)) {
            subscriber.too_slow.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chat_shared::domain::RoomId;
    use chat_shared::memory::MemoryUserFeed;

    use super::*;

    fn socket(user: UserId, id: u64, codec: Codec) -> (Subscriber, mpsc::Receiver<Outbound>) {
        let (queue, inbox) = mpsc::channel(4);
        (Subscriber { id, user, codec, queue, too_slow: CancellationToken::new() }, inbox)
    }

    async fn next_frame(inbox: &mut mpsc::Receiver<Outbound>) -> serde_json::Value {
        match tokio::time::timeout(Duration::from_secs(1), inbox.recv()).await.unwrap().unwrap() {
            Outbound::Event(bytes) => serde_json::from_slice(&bytes).unwrap(),
            other => panic!("expected an event, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn every_socket_of_the_user_hears_an_event_and_a_read_skips_the_socket_that_moved_it() {
        let bus = Arc::new(MemoryUserFeed::default());
        let feeds = Feeds::new(bus.clone());
        let ann = UserId::generate();
        let (first, mut first_inbox) = socket(ann, 1, Codec::Json);
        let (second, mut second_inbox) = socket(ann, 2, Codec::Json);
        let first_id = SocketId::generate();
        feeds.follow(first_id, first).await;
        feeds.follow(SocketId::generate(), second).await;
        let room = RoomId::generate();

        bus.publish(ann, &UserEvent::RoomRemoved { room_id: room, banned: false }).await.unwrap();
        bus.publish(ann, &UserEvent::Read { room_id: room, seq: 3, origin: Some(first_id) }).await.unwrap();

        let removed = serde_json::json!({"type": "room_removed", "room": room.to_string()});
        assert_eq!(next_frame(&mut first_inbox).await, removed);
        assert_eq!(next_frame(&mut second_inbox).await, removed);
        let read = next_frame(&mut second_inbox).await;
        assert_eq!((read["type"].as_str(), read["seq"].as_u64()), (Some("read"), Some(3)));
        assert_eq!(read["user_id"], ann.to_string());
        let nothing = tokio::time::timeout(Duration::from_millis(50), first_inbox.recv()).await;
        assert!(nothing.is_err(), "the socket that moved the marker heard of it");
    }

    #[tokio::test]
    async fn the_node_stops_following_a_user_whose_last_socket_went() {
        let bus = Arc::new(MemoryUserFeed::default());
        let feeds = Feeds::new(bus.clone());
        let ann = UserId::generate();
        let (first, _first_inbox) = socket(ann, 1, Codec::Json);
        let (second, _second_inbox) = socket(ann, 2, Codec::MsgPack);
        let (first_id, second_id) = (SocketId::generate(), SocketId::generate());
        feeds.follow(first_id, first).await;
        feeds.follow(second_id, second).await;
        feeds.unfollow(ann, first_id);
        assert_eq!(feeds.lock().len(), 1);
        feeds.unfollow(ann, second_id);
        assert!(feeds.lock().is_empty());
        feeds.unfollow(ann, second_id);
    }

    #[tokio::test]
    async fn a_socket_whose_queue_is_full_is_marked_too_slow() {
        let bus = Arc::new(MemoryUserFeed::default());
        let feeds = Feeds::new(bus.clone());
        let ann = UserId::generate();
        let (slow, _inbox) = socket(ann, 1, Codec::Json);
        let too_slow = slow.too_slow.clone();
        feeds.follow(SocketId::generate(), slow).await;
        for _ in 0..5 {
            bus.publish(ann, &UserEvent::RoomRemoved { room_id: RoomId::generate(), banned: false })
                .await
                .unwrap();
        }
        tokio::time::timeout(Duration::from_secs(1), too_slow.cancelled()).await.unwrap();
    }
}
