//! Unread counts kept live for the users who hold a socket on this node. While a user has one,
//! a task of theirs follows each of their rooms through the hub (whether or not a socket joined
//! it), counts the messages above their read marker, and tells every socket of theirs the new
//! count of a room at most once per `every`: a busy room costs a few frames a second, not one a
//! message.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chat_shared::domain::{RoomId, RoomSummary, Seq, UserId};
use chat_shared::ports::UserEvent;
use chat_shared::protocol::{Codec, ServerFrame};
use chat_shared::usecases::{MessageService, UnreadCounts};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::hub::{Hub, Outbound, Subscriber};

/// Where `GET /rooms` stops counting; the live count stops there too.
const CAP: u64 = 1000;

/// How many live messages a user's task may have waiting before the hub finds it too slow:
/// it then reads every count again from the store.
const QUEUE: usize = 1024;

/// How long a user's task waits before asking again for counts the store could not give.
const RETRY: Duration = Duration::from_secs(5);

/// Ids of the hub subscribers these tasks are, apart from the sockets' (which count up from 1).
static NEXT_ID: AtomicU64 = AtomicU64::new(u64::MAX / 2);

/// What a user's task needs: the rooms it follows, and where it reads counts.
#[derive(Clone)]
pub struct UnreadCounting {
    pub hub: Hub,
    pub messages: Arc<MessageService>,
    /// The shortest time between two counts of one room sent to a user.
    pub every: Duration,
}

/// Sends a frame to every socket of the user that asked for `unread` events.
pub type Tell = Arc<dyn Fn(&ServerFrame) + Send + Sync>;

/// What a user's task hears besides the rooms' messages.
#[derive(Debug)]
pub enum Input {
    /// An event of the user's feed.
    Event(UserEvent),
    /// A socket asked for `unread` events: tell the count of every room with unread messages.
    TellAll,
}

/// One room's count for the user: the messages above the marker up to `through`, which the
/// store counted, and those above `through`, which arrived live.
#[derive(Debug)]
struct RoomCount {
    marker: Seq,
    through: Seq,
    stored: u64,
    /// The seqs of the messages above `through` and the marker that arrived live, oldest first.
    live: VecDeque<Seq>,
    /// What the sockets were last told (what the store counted, before anything was told).
    told: (u64, Seq),
}

impl RoomCount {
    fn new(summary: &RoomSummary, through: Seq) -> Self {
        let (marker, stored) = (summary.last_read_seq, summary.unread_count);
        Self { marker, through, stored, live: VecDeque::new(), told: (stored, marker) }
    }

    fn count(&self) -> u64 {
        (self.stored + self.live.len() as u64).min(CAP)
    }

    /// A message arrived live; whether the count changed.
    fn message(&mut self, seq: Seq) -> bool {
        if seq <= self.through || seq <= self.marker || self.live.back().is_some_and(|&newest| seq <= newest)
        {
            return false;
        }
        self.live.push_back(seq);
        if self.live.len() as u64 > CAP {
            self.live.pop_front();
        }
        true
    }

    /// The marker moved to `seq`. Whether the store has to count again what is left at or
    /// below `through` (`recounted`).
    fn read(&mut self, seq: Seq) -> bool {
        if seq <= self.marker {
            return false;
        }
        self.marker = seq;
        self.live.retain(|&live| live > seq);
        if seq >= self.through {
            self.stored = 0;
            return false;
        }
        self.stored > 0
    }

    fn recounted(&mut self, stored: u64) {
        self.stored = stored;
    }
}

/// One user's task: runs until `stop`, from the user's first socket here to their last.
pub async fn count(
    counting: UnreadCounting,
    user: UserId,
    mut inputs: mpsc::UnboundedReceiver<Input>,
    tell: Tell,
    stop: CancellationToken,
) {
    let (queue, mut inbox) = mpsc::channel(QUEUE);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut counter = Counter {
        counting,
        user,
        followed: HashSet::new(),
        rooms: HashMap::new(),
        due: HashSet::new(),
        tell,
    };
    let mut tick = tokio::time::interval(counter.counting.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    'follow: loop {
        let too_slow = CancellationToken::new();
        let subscriber =
            Subscriber { id, user, codec: Codec::Json, queue: queue.clone(), too_slow: too_slow.clone() };
        counter.follow_all(&subscriber).await;
        loop {
            tokio::select! {
                () = stop.cancelled() => break 'follow,
                () = too_slow.cancelled() => {
                    counter.unfollow_all(id).await;
                    while inbox.try_recv().is_ok() {}
                    continue 'follow;
                }
                Some(outbound) = inbox.recv() => counter.outbound(outbound, id).await,
                Some(input) = inputs.recv() => match input {
                    Input::Event(event) => counter.event(event, &subscriber).await,
                    Input::TellAll => counter.tell_all_unread(),
                },
                _ = tick.tick() => counter.tell_due(),
            }
        }
    }
    counter.unfollow_all(id).await;
}

struct Counter {
    counting: UnreadCounting,
    user: UserId,
    /// The rooms the task's subscriber follows in the hub.
    followed: HashSet<RoomId>,
    rooms: HashMap<RoomId, RoomCount>,
    /// Rooms whose count may have changed since the sockets were last told.
    due: HashSet<RoomId>,
    tell: Tell,
}

impl Counter {
    /// Follows each of the user's rooms, then reads their counts from the store as of a point
    /// of the log the rooms' live messages go on from.
    async fn follow_all(&mut self, subscriber: &Subscriber) {
        let listed = match self.counting.messages.rooms().list_mine(self.user).await {
            Ok(listed) => listed,
            Err(err) => {
                tracing::warn!(user = %self.user, error = %err, "unread counts unavailable");
                return;
            }
        };
        for summary in &listed {
            self.subscribe(summary.room.id, subscriber).await;
        }
        let counts = self.counts().await;
        for summary in &counts.rooms {
            if !self.followed.contains(&summary.room.id) {
                self.subscribe(summary.room.id, subscriber).await;
            }
            self.rooms.insert(summary.room.id, RoomCount::new(summary, counts.through));
        }
        // The sockets read their counts at another moment than this.
        self.tell_all_unread();
    }

    /// The counts as of a settled point, asked again every `RETRY` while the store cannot give
    /// them (the persister is down); what arrives live meanwhile is counted by the store then.
    async fn counts(&self) -> UnreadCounts {
        loop {
            match self.counting.messages.unread_counts(self.user).await {
                Ok(counts) => return counts,
                Err(err) => {
                    tracing::warn!(user = %self.user, error = %err, "unread counts unavailable for now")
                }
            }
            tokio::time::sleep(RETRY).await;
        }
    }

    async fn subscribe(&mut self, room: RoomId, subscriber: &Subscriber) {
        if !self.followed.insert(room) {
            return;
        }
        if let Err(err) = self.counting.hub.subscribe(room, subscriber.clone()).await {
            tracing::warn!(user = %self.user, %room, error = %err, "room unavailable for unread counts");
        }
    }

    /// A room the user just joined: followed first, then counted as of a settled point.
    async fn added(&mut self, room: RoomId, subscriber: &Subscriber) {
        self.subscribe(room, subscriber).await;
        let counts = self.counts().await;
        if let Some(summary) = counts.rooms.iter().find(|summary| summary.room.id == room) {
            let count = RoomCount::new(summary, counts.through);
            let unread = count.count() > 0;
            self.rooms.insert(room, count);
            if unread {
                self.tell_all_unread();
            }
        }
    }

    async fn unfollow_all(&mut self, id: u64) {
        for room in self.followed.drain() {
            self.counting.hub.unsubscribe(room, id).await;
        }
        self.rooms.clear();
        self.due.clear();
    }

    /// Tells, at the next tick, the count of every room with unread messages.
    fn tell_all_unread(&mut self) {
        for (room_id, room) in &mut self.rooms {
            if room.count() > 0 {
                room.told = (u64::MAX, 0);
                self.due.insert(*room_id);
            }
        }
    }

    async fn outbound(&mut self, outbound: Outbound, id: u64) {
        match outbound {
            Outbound::Message(frame) if frame.is_message => {
                if self.rooms.get_mut(&frame.room).is_some_and(|room| room.message(frame.seq)) {
                    self.due.insert(frame.room);
                }
            }
            Outbound::Removed(room) => self.forget(*room, id).await,
            Outbound::Message(_) | Outbound::Event(_) => {}
        }
    }

    async fn event(&mut self, event: UserEvent, subscriber: &Subscriber) {
        match event {
            UserEvent::RoomAdded { room } => self.added(room.room.id, subscriber).await,
            UserEvent::RoomRemoved { room_id, .. } => self.forget(room_id, subscriber.id).await,
            UserEvent::Read { room_id, seq, .. } => {
                let Some(room) = self.rooms.get_mut(&room_id) else { return };
                if room.read(seq) {
                    let through = room.through;
                    match self.counting.messages.unread_count_through(self.user, room_id, through).await {
                        Ok(Some(stored)) => room.recounted(stored),
                        Ok(None) => {}
                        Err(err) => tracing::warn!(user = %self.user, error = %err, "could not count again"),
                    }
                }
                self.due.insert(room_id);
            }
            UserEvent::Muted { .. } | UserEvent::RoomUpdated { .. } => {}
        }
    }

    async fn forget(&mut self, room: RoomId, id: u64) {
        self.rooms.remove(&room);
        if self.followed.remove(&room) {
            self.counting.hub.unsubscribe(room, id).await;
        }
        self.due.remove(&room);
    }

    /// Tells the sockets each count that changed since they were last told.
    fn tell_due(&mut self) {
        for room_id in self.due.drain() {
            let Some(room) = self.rooms.get_mut(&room_id) else { continue };
            let now = (room.count(), room.marker);
            if room.told == now {
                continue;
            }
            room.told = now;
            (self.tell)(&ServerFrame::Unread { room: room_id, unread_count: now.0, last_read_seq: now.1 });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(marker: Seq, through: Seq, stored: u64) -> RoomCount {
        RoomCount { marker, through, stored, live: VecDeque::new(), told: (stored, marker) }
    }

    #[test]
    fn live_messages_above_the_stored_point_count_once_each() {
        let mut room = counted(5, 10, 2);
        assert!(!room.message(9), "the store counted it");
        assert!(room.message(11));
        assert!(room.message(14));
        assert!(!room.message(14), "the same message again");
        assert_eq!(room.count(), 4);
    }

    #[test]
    fn a_read_at_or_past_the_stored_point_needs_no_store() {
        let mut room = counted(5, 10, 2);
        for seq in [11, 12, 13] {
            room.message(seq);
        }
        assert!(!room.read(12));
        assert_eq!((room.count(), room.marker), (1, 12));
        assert!(!room.read(6), "a marker only moves forward");
        assert!(!room.read(13));
        assert_eq!(room.count(), 0);
    }

    #[test]
    fn a_read_below_the_stored_point_has_the_store_count_again() {
        let mut room = counted(5, 10, 3);
        room.message(12);
        assert!(room.read(8));
        room.recounted(1);
        assert_eq!(room.count(), 2);
        assert!(!counted(5, 10, 0).read(8), "nothing stored to count again");
    }

    #[test]
    fn the_count_stops_where_the_room_list_stops() {
        let mut room = counted(0, 0, CAP);
        assert!(room.message(5000));
        assert_eq!(room.count(), CAP);
        let mut fresh = counted(0, 0, 0);
        for seq in 1..=CAP + 5 {
            fresh.message(seq);
        }
        assert_eq!((fresh.count(), fresh.live.len() as u64), (CAP, CAP));
    }
}
