//! A sending connection's operations under a mix: what each one acts on, which the writer
//! chooses from what the reader has learned, and which request was which operation, which the
//! reader needs to read its reply.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::mix::{OpKind, Schedule};

/// The emojis reactions cycle through.
pub const EMOJIS: [&str; 4] = ["👍", "❤️", "🎉", "👀"];

/// Own acknowledged messages kept as targets for edits and deletes. Older ones drop out and
/// are simply never changed: the list stays small however long a flat-out run lasts.
const OWN_KEPT: usize = 64;

/// One operation, as the writer encodes it. Messages are named by their seq in the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Send,
    /// `react` (`add`) or `unreact`.
    React {
        seq: u64,
        emoji: &'static str,
        add: bool,
    },
    Edit {
        seq: u64,
    },
    Delete {
        seq: u64,
    },
}

impl Op {
    pub fn kind(self) -> OpKind {
        match self {
            Op::Send => OpKind::Send,
            Op::React { .. } => OpKind::Reaction,
            Op::Edit { .. } => OpKind::Edit,
            Op::Delete { .. } => OpKind::Delete,
        }
    }
}

/// An operation written and not yet answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    pub kind: OpKind,
    /// When it was written, on the bench's clock.
    pub sent_at: u64,
}

/// What a connection's writer and reader share under a mix.
#[derive(Debug, Default)]
pub struct OpBook {
    state: Mutex<BookState>,
    /// The highest seq of the room's `message` frames the connection has received: what the
    /// next reaction acts on (any member's message).
    latest_message: AtomicU64,
}

#[derive(Debug, Default)]
struct BookState {
    /// Written operations by request id, until their replies arrive.
    in_flight: HashMap<u64, InFlight>,
    /// The connection's own acknowledged messages that no delete has taken, oldest first.
    own: VecDeque<u64>,
}

impl OpBook {
    fn state(&self) -> std::sync::MutexGuard<'_, BookState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The reader received a message of the room.
    pub fn message_received(&self, seq: u64) {
        self.latest_message.fetch_max(seq, Ordering::Relaxed);
    }

    /// The reader got the acknowledgement of one of the connection's sends.
    pub fn own_acknowledged(&self, seq: u64) {
        let mut state = self.state();
        if state.own.len() == OWN_KEPT {
            state.own.pop_front();
        }
        state.own.push_back(seq);
    }

    /// The reader got the reply to `request`: which operation it answers, if the book knows.
    pub fn answered(&self, request: u64) -> Option<InFlight> {
        self.state().in_flight.remove(&request)
    }
}

/// The writer's side: draws each operation's kind from the schedule, finds what it acts on,
/// and records it in the book before it is written.
#[derive(Debug)]
pub struct Planner {
    schedule: Schedule,
    /// The reaction the connection holds and removes next, or none: reactions alternate
    /// between adding one and removing it, so each is a real change the room is told of.
    standing: Option<(u64, &'static str)>,
    /// Reactions added so far, to cycle through the emojis.
    reacted: usize,
}

impl Planner {
    pub fn new(schedule: Schedule) -> Planner {
        Planner { schedule, standing: None, reacted: 0 }
    }

    /// The next operation, recorded in `book` under `request` as written at `sent_at`.
    pub fn next(&mut self, book: &OpBook, request: u64, sent_at: u64) -> Op {
        let kind = self.schedule.next_kind();
        let latest = book.latest_message.load(Ordering::Relaxed);
        let mut state = book.state();
        let op = self.choose(kind, &mut state.own, latest);
        state.in_flight.insert(request, InFlight { kind: op.kind(), sent_at });
        op
    }

    /// What an operation of `kind` acts on; a send when it has nothing to act on yet.
    fn choose(&mut self, kind: OpKind, own: &mut VecDeque<u64>, latest: u64) -> Op {
        match kind {
            OpKind::Send => Op::Send,
            OpKind::Reaction => match self.standing.take() {
                Some((seq, emoji)) => Op::React { seq, emoji, add: false },
                None if latest > 0 => {
                    let emoji = EMOJIS[self.reacted % EMOJIS.len()];
                    self.reacted += 1;
                    self.standing = Some((latest, emoji));
                    Op::React { seq: latest, emoji, add: true }
                }
                None => Op::Send,
            },
            // The newest own message: the one a user fixes right after sending it.
            OpKind::Edit => own.back().map_or(Op::Send, |&seq| Op::Edit { seq }),
            // The oldest own message, which leaves the list so nothing acts on it again. The
            // newest stays for edits; and old messages are the ones others' reactions have
            // moved on from, so a reaction meets a deleted message rarely.
            OpKind::Delete if own.len() >= 2 => own.pop_front().map_or(Op::Send, |seq| Op::Delete { seq }),
            OpKind::Delete => Op::Send,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mix::Mix;

    fn planner(mix: &str) -> Planner {
        Planner::new(mix.parse::<Mix>().unwrap().schedule(0))
    }

    #[test]
    fn operations_without_a_target_yet_are_sends() {
        let mut planner = planner("sends=1");
        let mut own = VecDeque::new();
        for kind in OpKind::ALL {
            assert_eq!(planner.choose(kind, &mut own, 0), Op::Send, "{kind:?}");
        }
        own.push_back(7);
        assert_eq!(planner.choose(OpKind::Delete, &mut own, 0), Op::Send, "the only own message stays");
    }

    #[test]
    fn reactions_add_then_remove_the_same_emoji_and_cycle_through_the_emojis() {
        let mut planner = planner("sends=1");
        let mut own = VecDeque::new();
        let ops: Vec<Op> = [10, 11, 12, 13]
            .iter()
            .map(|&latest| planner.choose(OpKind::Reaction, &mut own, latest))
            .collect();
        assert_eq!(
            ops,
            [
                Op::React { seq: 10, emoji: EMOJIS[0], add: true },
                Op::React { seq: 10, emoji: EMOJIS[0], add: false },
                Op::React { seq: 12, emoji: EMOJIS[1], add: true },
                Op::React { seq: 12, emoji: EMOJIS[1], add: false },
            ]
        );
    }

    #[test]
    fn edits_take_the_newest_own_message_and_deletes_the_oldest_once() {
        let mut planner = planner("sends=1");
        let mut own = VecDeque::from([3, 5, 9]);
        assert_eq!(planner.choose(OpKind::Edit, &mut own, 0), Op::Edit { seq: 9 });
        assert_eq!(planner.choose(OpKind::Delete, &mut own, 0), Op::Delete { seq: 3 });
        assert_eq!(planner.choose(OpKind::Delete, &mut own, 0), Op::Delete { seq: 5 });
        assert_eq!(planner.choose(OpKind::Delete, &mut own, 0), Op::Send);
        assert_eq!(planner.choose(OpKind::Edit, &mut own, 0), Op::Edit { seq: 9 });
    }

    #[test]
    fn the_book_tells_the_reader_which_request_was_which_operation() {
        let book = OpBook::default();
        let mut planner = planner("sends=1,edits=1");
        assert_eq!(planner.next(&book, 1, 100), Op::Send);
        assert_eq!(planner.next(&book, 2, 200), Op::Send, "an edit with no own message yet");
        book.own_acknowledged(41);
        assert_eq!(planner.next(&book, 3, 300), Op::Send);
        assert_eq!(planner.next(&book, 4, 400), Op::Edit { seq: 41 });
        assert_eq!(book.answered(4), Some(InFlight { kind: OpKind::Edit, sent_at: 400 }));
        assert_eq!(book.answered(2), Some(InFlight { kind: OpKind::Send, sent_at: 200 }));
        assert_eq!(book.answered(4), None, "each reply once");
    }

    #[test]
    fn only_the_newest_own_messages_are_kept() {
        let book = OpBook::default();
        for seq in 1..=(OWN_KEPT as u64 + 10) {
            book.own_acknowledged(seq);
        }
        let state = book.state();
        assert_eq!((state.own.len(), state.own.front()), (OWN_KEPT, Some(&11)));
    }

    #[test]
    fn reactions_act_on_the_latest_message_received() {
        let book = OpBook::default();
        book.message_received(8);
        book.message_received(5);
        let mut planner = planner("reactions=1,sends=1");
        let ops: Vec<Op> = (1..=2).map(|request| planner.next(&book, request, 0)).collect();
        assert!(ops.contains(&Op::React { seq: 8, emoji: EMOJIS[0], add: true }), "{ops:?}");
    }
}
