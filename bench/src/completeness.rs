//! The completeness check, pure: every acknowledged entry of a room's log (its messages and,
//! under a mix, the edits, deletions and reactions) reached every member connection exactly
//! once, in strictly increasing seq order, naming the acknowledged message id.

use std::collections::HashSet;
use std::ops::AddAssign;

use serde::Serialize;

/// An entry of a room's log the server acknowledged to the connection that wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acked {
    /// The entry's own seq in the room.
    pub seq: u64,
    /// The id of its message (for a change or reaction, the message it changes).
    pub id: u128,
    pub entry: Entry,
}

/// What an entry of a room's log is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Entry {
    /// A message (`send`), delivered as `message`.
    Message,
    /// An edit, deletion or reaction, delivered as `message_edited`, `message_deleted` or
    /// `reaction` under its own seq. A deleted message's own entry stays delivered.
    Change,
}

/// A frame of an entry one connection received (`message`, or a change's or reaction's), in
/// arrival order: its seq and its message's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub seq: u64,
    pub id: u128,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Completeness {
    /// Acknowledged entries times the member connections that should have received them.
    pub expected: u64,
    /// Entry frames received.
    pub delivered: u64,
    /// Expected deliveries that never came.
    pub missing: u64,
    /// Frames for a seq the connection had already received.
    pub duplicated: u64,
    /// Frames whose seq was below one received earlier on the connection.
    pub out_of_order: u64,
    /// Frames whose message id differs from the id acknowledged for that seq.
    pub mismatched_id: u64,
    /// Two different acknowledged messages of one room with the same seq.
    pub conflicting_acks: u64,
    /// Frames for a seq nobody was acknowledged (a send or change whose reply was lost, or a
    /// stranger's).
    pub unacknowledged: u64,
}

impl Completeness {
    /// No loss, duplicate, reordering or mix-up. Unacknowledged deliveries are reported but
    /// are no failure: a message may be stored although its reply never arrived.
    pub fn is_clean(&self) -> bool {
        self.missing == 0
            && self.duplicated == 0
            && self.out_of_order == 0
            && self.mismatched_id == 0
            && self.conflicting_acks == 0
    }
}

impl AddAssign for Completeness {
    fn add_assign(&mut self, o: Completeness) {
        self.expected += o.expected;
        self.delivered += o.delivered;
        self.missing += o.missing;
        self.duplicated += o.duplicated;
        self.out_of_order += o.out_of_order;
        self.mismatched_id += o.mismatched_id;
        self.conflicting_acks += o.conflicting_acks;
        self.unacknowledged += o.unacknowledged;
    }
}

/// A room's acknowledgements sorted by seq, ready for [`check_connection`].
#[derive(Debug, Clone, Default)]
pub struct RoomAcks {
    acked: Vec<Acked>,
    conflicts: u64,
}

impl RoomAcks {
    /// Sorts by seq; the same message acknowledged twice counts once, two messages under one
    /// seq are a conflict.
    pub fn new(mut acked: Vec<Acked>) -> RoomAcks {
        acked.sort_unstable_by_key(|a| (a.seq, a.id, a.entry));
        acked.dedup();
        let mut conflicts = 0;
        acked.dedup_by(|later, earlier| {
            let same_seq = later.seq == earlier.seq;
            conflicts += u64::from(same_seq);
            same_seq
        });
        RoomAcks { acked, conflicts }
    }

    /// Acknowledged entries of either kind.
    pub fn len(&self) -> usize {
        self.acked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.acked.is_empty()
    }

    pub fn conflicts(&self) -> u64 {
        self.conflicts
    }

    /// The acknowledged messages' seqs, ascending (the rows PostgreSQL should hold).
    pub fn message_seqs(&self) -> impl Iterator<Item = u64> + '_ {
        self.acked.iter().filter(|a| a.entry == Entry::Message).map(|a| a.seq)
    }
}

/// Checks what one member connection of the room received, in arrival order.
pub fn check_connection(room: &RoomAcks, delivered: &[Delivered]) -> Completeness {
    let acked = &room.acked;
    let mut seen = vec![false; acked.len()];
    let mut seen_unacked: HashSet<u64> = HashSet::new();
    let mut highest: Option<u64> = None;
    let mut c = Completeness {
        expected: acked.len() as u64,
        delivered: delivered.len() as u64,
        ..Completeness::default()
    };
    for d in delivered {
        let position = acked.binary_search_by_key(&d.seq, |a| a.seq).ok();
        let repeated = match position {
            Some(i) => std::mem::replace(&mut seen[i], true),
            None => !seen_unacked.insert(d.seq),
        };
        if repeated {
            c.duplicated += 1;
            continue;
        }
        if highest.is_some_and(|h| d.seq < h) {
            c.out_of_order += 1;
        }
        highest = highest.max(Some(d.seq));
        match position {
            Some(i) if acked[i].id != d.id => c.mismatched_id += 1,
            Some(_) => {}
            None => c.unacknowledged += 1,
        }
    }
    c.missing = seen.iter().filter(|s| !**s).count() as u64;
    c
}

/// The acknowledged messages a connection never received, in seq order, at most `limit`.
pub fn missing(room: &RoomAcks, delivered: &[Delivered], limit: usize) -> Vec<Acked> {
    let got: HashSet<u64> = delivered.iter().map(|d| d.seq).collect();
    room.acked.iter().filter(|a| !got.contains(&a.seq)).take(limit).copied().collect()
}

/// The highest acknowledged seq of the room, to tell whether a lost message was its last.
pub fn last_seq(room: &RoomAcks) -> Option<u64> {
    room.acked.last().map(|a| a.seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acks(seqs: &[u64]) -> RoomAcks {
        RoomAcks::new(
            seqs.iter().map(|&seq| Acked { seq, id: u128::from(seq) * 10, entry: Entry::Message }).collect(),
        )
    }

    fn got(seqs: &[u64]) -> Vec<Delivered> {
        seqs.iter().map(|&seq| Delivered { seq, id: u128::from(seq) * 10 }).collect()
    }

    #[test]
    fn every_message_once_and_in_order_is_clean() {
        // Seqs are a stream's sequence shared by all rooms: increasing, not dense.
        let c = check_connection(&acks(&[3, 9, 4, 20]), &got(&[3, 4, 9, 20]));
        assert!(c.is_clean(), "{c:?}");
        assert_eq!((c.expected, c.delivered), (4, 4));
    }

    #[test]
    fn a_message_never_received_is_missing() {
        let c = check_connection(&acks(&[1, 2, 3, 4]), &got(&[1, 3]));
        assert_eq!(c.missing, 2);
        assert!(!c.is_clean());
    }

    #[test]
    fn a_message_received_twice_is_a_duplicate_not_a_reordering() {
        let c = check_connection(&acks(&[1, 2, 3]), &got(&[1, 2, 2, 3, 1]));
        assert_eq!((c.duplicated, c.out_of_order, c.missing), (2, 0, 0));
        assert!(!c.is_clean());
    }

    #[test]
    fn a_lower_seq_after_a_higher_one_is_out_of_order() {
        let c = check_connection(&acks(&[1, 2, 3, 4]), &got(&[1, 3, 2, 4]));
        assert_eq!((c.out_of_order, c.duplicated, c.missing), (1, 0, 0));
        assert!(!c.is_clean());
    }

    #[test]
    fn a_different_id_under_an_acknowledged_seq_is_a_mismatch() {
        let mut delivered = got(&[1, 2]);
        delivered[1].id = 999;
        let c = check_connection(&acks(&[1, 2]), &delivered);
        assert_eq!(c.mismatched_id, 1);
        assert!(!c.is_clean());
    }

    #[test]
    fn deliveries_nobody_was_acknowledged_are_reported_but_not_a_failure() {
        let c = check_connection(&acks(&[1, 3]), &got(&[1, 2, 3, 2]));
        assert_eq!((c.unacknowledged, c.duplicated), (1, 1));
        assert_eq!(c.missing, 0);
    }

    #[test]
    fn two_messages_acknowledged_under_one_seq_conflict() {
        let at_5 = |id| Acked { seq: 5, id, entry: Entry::Message };
        let room = RoomAcks::new(vec![at_5(1), at_5(2), at_5(1)]);
        assert_eq!((room.len(), room.conflicts()), (1, 1));
    }

    #[test]
    fn changes_are_checked_in_the_same_seq_order_as_messages() {
        // Message 1 (seq 2) is edited under seq 3 and reacted to under seq 6; message 2 is seq 4.
        let message = |seq, id| Acked { seq, id, entry: Entry::Message };
        let change = |seq, id| Acked { seq, id, entry: Entry::Change };
        let room = RoomAcks::new(vec![message(2, 1), change(3, 1), message(4, 2), change(6, 1)]);
        assert_eq!(room.message_seqs().collect::<Vec<_>>(), [2, 4], "only messages are rows");
        let frame = |seq, id| Delivered { seq, id };

        let c = check_connection(&room, &[frame(2, 1), frame(3, 1), frame(4, 2), frame(6, 1)]);
        assert!(c.is_clean(), "{c:?}");
        assert_eq!((c.expected, c.delivered), (4, 4));

        let c = check_connection(&room, &[frame(2, 1), frame(4, 2), frame(3, 1), frame(6, 1)]);
        assert_eq!(c.out_of_order, 1, "an edit after a later message is out of order");

        let c = check_connection(&room, &[frame(2, 1), frame(3, 1), frame(4, 2)]);
        assert_eq!(c.missing, 1, "a lost reaction is missing");

        let c = check_connection(&room, &[frame(2, 1), frame(3, 2), frame(4, 2), frame(6, 1)]);
        assert_eq!(c.mismatched_id, 1, "an edit of the wrong message");
    }

    #[test]
    fn the_missing_messages_are_named_in_seq_order() {
        let room = acks(&[7, 1, 4, 9]);
        let lost: Vec<u64> = missing(&room, &got(&[4, 1]), 10).iter().map(|a| a.seq).collect();
        assert_eq!(lost, [7, 9]);
        assert_eq!(missing(&room, &got(&[]), 1).len(), 1);
        assert_eq!(last_seq(&room), Some(9));
    }

    #[test]
    fn totals_add_up_over_connections() {
        let room = acks(&[1, 2]);
        let mut total = Completeness::default();
        total += check_connection(&room, &got(&[1, 2]));
        total += check_connection(&room, &got(&[2]));
        assert_eq!((total.expected, total.delivered, total.missing), (4, 3, 1));
    }
}
