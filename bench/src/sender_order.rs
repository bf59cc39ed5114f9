//! The completeness check for a system without a room sequence (the Socket.IO peer), pure:
//! every acknowledged send of a room reached every member connection exactly once, and each
//! sender's messages arrived in the order it sent them. Messages of different senders may
//! interleave freely: the peer promises no order between them, and neither does this check.

use std::collections::{HashMap, HashSet};

use crate::completeness::Completeness;

/// One send, named by its sending connection and that connection's request counter, both
/// carried in the message's timing tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SendId {
    pub conn: u32,
    pub request: u64,
}

/// A room's acknowledged sends, sorted, ready for [`check_connection`].
#[derive(Debug, Clone, Default)]
pub struct RoomSends {
    acked: Vec<SendId>,
}

impl RoomSends {
    /// Sorts the acknowledgements; one acknowledged twice counts once.
    pub fn new(mut acked: Vec<SendId>) -> RoomSends {
        acked.sort_unstable();
        acked.dedup();
        RoomSends { acked }
    }

    pub fn len(&self) -> usize {
        self.acked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.acked.is_empty()
    }

    /// The highest acknowledged request of `conn`, to tell whether a lost send was its last.
    pub fn last_of(&self, conn: u32) -> Option<u64> {
        let end = self.acked.partition_point(|s| s.conn <= conn);
        self.acked[..end].last().filter(|s| s.conn == conn).map(|s| s.request)
    }
}

/// Checks what one member connection of the room received, in arrival order. Every field of
/// [`Completeness`] means what it means for the chat check, with "out of order" per sender;
/// mismatched ids and conflicting acks cannot happen, since the tag is the identity.
pub fn check_connection(room: &RoomSends, delivered: &[SendId]) -> Completeness {
    let acked = &room.acked;
    let mut seen = vec![false; acked.len()];
    let mut seen_unacked: HashSet<SendId> = HashSet::new();
    let mut highest: HashMap<u32, u64> = HashMap::new();
    let mut c = Completeness {
        expected: acked.len() as u64,
        delivered: delivered.len() as u64,
        ..Completeness::default()
    };
    for d in delivered {
        let position = acked.binary_search(d).ok();
        let repeated = match position {
            Some(i) => std::mem::replace(&mut seen[i], true),
            None => !seen_unacked.insert(*d),
        };
        if repeated {
            c.duplicated += 1;
            continue;
        }
        let top = highest.entry(d.conn).or_insert(d.request);
        if d.request < *top {
            c.out_of_order += 1;
        }
        *top = (*top).max(d.request);
        if position.is_none() {
            c.unacknowledged += 1;
        }
    }
    c.missing = seen.iter().filter(|s| !**s).count() as u64;
    c
}

/// The acknowledged sends a connection never received, in (sender, request) order, at most
/// `limit`.
pub fn missing(room: &RoomSends, delivered: &[SendId], limit: usize) -> Vec<SendId> {
    let got: HashSet<SendId> = delivered.iter().copied().collect();
    room.acked.iter().filter(|a| !got.contains(a)).take(limit).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sends(pairs: &[(u32, u64)]) -> Vec<SendId> {
        pairs.iter().map(|&(conn, request)| SendId { conn, request }).collect()
    }

    fn room(pairs: &[(u32, u64)]) -> RoomSends {
        RoomSends::new(sends(pairs))
    }

    #[test]
    fn senders_may_interleave_in_any_order() {
        let room = room(&[(1, 1), (1, 2), (2, 1), (2, 2)]);
        for got in [[(1, 1), (2, 1), (1, 2), (2, 2)], [(2, 1), (2, 2), (1, 1), (1, 2)]] {
            let c = check_connection(&room, &sends(&got));
            assert!(c.is_clean(), "{got:?}: {c:?}");
            assert_eq!((c.expected, c.delivered, c.out_of_order), (4, 4, 0));
        }
    }

    #[test]
    fn one_sender_reordered_is_out_of_order() {
        let c = check_connection(&room(&[(1, 1), (1, 2), (1, 3)]), &sends(&[(1, 2), (1, 1), (1, 3)]));
        assert_eq!((c.out_of_order, c.duplicated, c.missing), (1, 0, 0));
        assert!(!c.is_clean());
    }

    #[test]
    fn a_send_received_twice_is_a_duplicate_not_a_reordering() {
        let c = check_connection(&room(&[(3, 1), (3, 2)]), &sends(&[(3, 1), (3, 2), (3, 1), (3, 2)]));
        assert_eq!((c.duplicated, c.out_of_order, c.missing), (2, 0, 0));
        assert!(!c.is_clean());
    }

    #[test]
    fn an_acknowledged_send_never_received_is_missing() {
        let c = check_connection(&room(&[(1, 1), (1, 2), (2, 7)]), &sends(&[(1, 2)]));
        assert_eq!(c.missing, 2);
        assert_eq!(c.out_of_order, 0, "a gap is a loss, not a reordering");
        assert!(!c.is_clean());
    }

    #[test]
    fn unacknowledged_deliveries_are_reported_but_not_a_failure() {
        let c = check_connection(&room(&[(1, 1)]), &sends(&[(1, 1), (1, 2), (1, 2)]));
        assert_eq!((c.unacknowledged, c.duplicated, c.missing), (1, 1, 0));
        assert_eq!(c.mismatched_id + c.conflicting_acks, 0);
    }

    #[test]
    fn the_same_request_number_of_two_senders_is_two_messages() {
        let room = room(&[(1, 5), (2, 5), (1, 5)]);
        assert_eq!(room.len(), 2, "the repeated ack counts once");
        let c = check_connection(&room, &sends(&[(2, 5), (1, 5)]));
        assert!(c.is_clean(), "{c:?}");
    }

    #[test]
    fn the_missing_sends_and_each_senders_last_are_named() {
        let room = room(&[(2, 9), (1, 4), (1, 1), (2, 3)]);
        let lost = missing(&room, &sends(&[(1, 1), (2, 9)]), 10);
        assert_eq!(lost, sends(&[(1, 4), (2, 3)]));
        assert_eq!(missing(&room, &[], 1).len(), 1);
        assert_eq!((room.last_of(1), room.last_of(2), room.last_of(3)), (Some(4), Some(9), None));
        assert_eq!(RoomSends::default().last_of(0), None);
    }
}
