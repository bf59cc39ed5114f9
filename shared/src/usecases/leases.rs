//! How long a checked membership may be trusted without asking the store again.
//!
//! A send must come from a member, and asking the store on every send would cost a query per
//! message. So a node trusts a membership it checked for a while (a lease), and a removal is
//! answered only once every lease granted before it has run out, on every node: after the
//! answer, any send of the removed member is checked against the store, which knows.
//! Leases are measured on each node's monotonic clock, so nodes need no common time.
//!
//! A lease a sender is using is renewed before it ends, for all such senders of a node in one
//! read of the store ([`MembershipLeases::due`]), so that steady senders never wait for it.
//!
//! A lease that ran out is still remembered for a while: while the store cannot be asked, a
//! sender this node knew as a member, and whose removal it has not heard of, may go on
//! sending (messages do not depend on the database).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::{RoomId, UserId};

/// Leases held beyond which long-expired ones are swept out on the next grant.
const SWEEP_ABOVE: usize = 4096;
/// How long an expired lease is remembered, for senders whose membership cannot be checked.
const REMEMBERED: Duration = Duration::from_secs(15 * 60);

/// The memberships this node checked recently, each trusted until its lease ends.
pub struct MembershipLeases {
    length: Duration,
    leases: Mutex<HashMap<(RoomId, UserId), Lease>>,
}

struct Lease {
    until: Instant,
    /// Whether a send relied on it since it was granted: only those are worth renewing.
    used: bool,
}

impl MembershipLeases {
    /// `length` zero trusts nothing: every send is checked.
    pub fn new(length: Duration) -> Self {
        Self { length, leases: Mutex::new(HashMap::new()) }
    }

    /// How long a lease lasts: what a removal waits before it is answered.
    pub fn length(&self) -> Duration {
        self.length
    }

    fn leases(&self) -> std::sync::MutexGuard<'_, HashMap<(RoomId, UserId), Lease>> {
        self.leases.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the lease on `user`'s membership of `room` ends (or ended): it is trusted before
    /// then. `None` when this node has not confirmed that membership lately, or heard it end.
    pub fn until(&self, room: RoomId, user: UserId) -> Option<Instant> {
        self.leases().get(&(room, user)).map(|lease| lease.until)
    }

    /// [`until`](Self::until), for a send that relies on the lease: it is then among those
    /// [`due`](Self::due) for renewal.
    pub fn until_for_send(&self, room: RoomId, user: UserId) -> Option<Instant> {
        self.leases().get_mut(&(room, user)).map(|lease| {
            lease.used = true;
            lease.until
        })
    }

    /// Up to `limit` memberships that a send relied on since their lease was granted and whose
    /// lease ends within `within` of `now` (or has ended): those to renew now.
    pub fn due(&self, now: Instant, within: Duration, limit: usize) -> Vec<(RoomId, UserId)> {
        self.leases()
            .iter()
            .filter(|(_, lease)| lease.used && lease.until <= now + within)
            .map(|(pair, _)| *pair)
            .take(limit)
            .collect()
    }

    /// Records a membership the store confirmed by a read that began at `asked_at`: the lease
    /// counts from before the read, so it ends no later than `length` after any removal the
    /// read did not see.
    pub fn grant(&self, room: RoomId, user: UserId, asked_at: Instant) {
        if self.length.is_zero() {
            return;
        }
        let mut leases = self.leases();
        if leases.len() >= SWEEP_ABOVE {
            let now = Instant::now();
            leases.retain(|_, lease| lease.until + REMEMBERED > now);
        }
        leases.insert((room, user), Lease { until: asked_at + self.length, used: false });
    }

    /// Forgets a membership this node learned has ended.
    pub fn revoke(&self, room: RoomId, user: UserId) {
        self.leases().remove(&(room, user));
    }

    /// Forgets every membership of `room` this node checked: each member's next send is
    /// checked against the store.
    pub fn revoke_room(&self, room: RoomId) {
        self.leases().retain(|(leased, _), _| *leased != room);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.leases().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_lease_lasts_its_length_from_the_time_the_store_was_asked() {
        let leases = MembershipLeases::new(Duration::from_secs(2));
        let (room, user) = (RoomId::generate(), UserId::generate());
        let asked = Instant::now();
        assert_eq!(leases.until(room, user), None);
        tokio::time::advance(Duration::from_millis(500)).await;
        leases.grant(room, user, asked);
        assert_eq!(leases.until(room, user), Some(asked + Duration::from_secs(2)));
        assert_eq!(leases.until(RoomId::generate(), user), None, "another room");
    }

    #[tokio::test(start_paused = true)]
    async fn leases_sent_under_are_due_for_renewal_near_their_end() {
        let leases = MembershipLeases::new(Duration::from_secs(2));
        let (sending, idle) =
            ((RoomId::generate(), UserId::generate()), (RoomId::generate(), UserId::generate()));
        leases.grant(sending.0, sending.1, Instant::now());
        leases.grant(idle.0, idle.1, Instant::now());
        let within = Duration::from_secs(1);
        leases.until_for_send(sending.0, sending.1);
        assert_eq!(leases.due(Instant::now(), within, 10), vec![], "not near their end yet");
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(leases.due(Instant::now(), within, 10), vec![sending], "the idle one is left to run out");
        assert_eq!(leases.due(Instant::now(), within, 0), vec![], "at most the limit");
        leases.grant(sending.0, sending.1, Instant::now());
        assert_eq!(
            leases.due(Instant::now(), Duration::from_secs(5), 10),
            vec![],
            "a renewed lease is unused"
        );
        assert_eq!(leases.until_for_send(RoomId::generate(), sending.1), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_revoked_lease_is_forgotten() {
        let leases = MembershipLeases::new(Duration::from_secs(2));
        let (room, user) = (RoomId::generate(), UserId::generate());
        leases.grant(room, user, Instant::now());
        leases.revoke(room, user);
        assert_eq!(leases.until(room, user), None);
    }

    #[tokio::test(start_paused = true)]
    async fn leases_of_length_zero_are_never_granted() {
        let leases = MembershipLeases::new(Duration::ZERO);
        let (room, user) = (RoomId::generate(), UserId::generate());
        leases.grant(room, user, Instant::now());
        assert_eq!(leases.until(room, user), None);
        assert_eq!(leases.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn long_expired_leases_are_swept_out_once_many_are_held() {
        let leases = MembershipLeases::new(Duration::from_secs(1));
        let (room, user) = (RoomId::generate(), UserId::generate());
        leases.grant(room, user, Instant::now());
        for _ in 1..SWEEP_ABOVE {
            leases.grant(RoomId::generate(), UserId::generate(), Instant::now());
        }
        tokio::time::advance(Duration::from_secs(2)).await;
        leases.grant(RoomId::generate(), UserId::generate(), Instant::now());
        assert!(leases.until(room, user).is_some(), "expired, but remembered");
        tokio::time::advance(REMEMBERED).await;
        leases.grant(RoomId::generate(), UserId::generate(), Instant::now());
        // Left: the one granted after the first pause (still remembered) and the newest.
        assert_eq!(leases.until(room, user), None);
        assert_eq!(leases.len(), 2);
    }
}
