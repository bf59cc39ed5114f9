//! Ending logins at once: an ended login's access tokens are refused and its sockets closed on
//! every node, for as long as those tokens could live.
//!
//! Each node remembers the revocations it made or heard announced, and asks the shared store
//! (Redis in a cluster) about a login it knows nothing of, trusting a "not revoked" answer for
//! at most a second. A node never accepts a token of a login it knows ended; when the shared
//! store cannot answer, it accepts the others (announcements still reach it).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;

use crate::domain::LoginId;
use crate::memory::MemoryRevokedLogins;
use crate::ports::{Clock, LoginAnnouncements, LoginEnded, LoginSockets, RevocationError, RevokedLogins};

/// How long a "not revoked" answer of the shared store is trusted: between one and two of these.
const CLEARED_WINDOW: Duration = Duration::from_millis(500);
/// How long a check waits for the shared store before it accepts the token: a request must not
/// hang on a Redis that does not answer.
const LOOKUP_TIMEOUT: Duration = Duration::from_millis(250);
/// Added to the access-token lifetime, for nodes whose clocks disagree a little.
const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(1);

pub struct LoginRevocations {
    shared: Arc<dyn RevokedLogins>,
    announcements: Arc<dyn LoginAnnouncements>,
    sockets: Arc<dyn LoginSockets>,
    /// What this node revoked or heard of; never forgotten before the tokens expire.
    known: MemoryRevokedLogins,
    cleared: RecentlyCleared,
    clock: Arc<dyn Clock>,
    /// How long a revocation must hold: as long as an access token issued just before it lives.
    remember_for: chrono::Duration,
}

impl LoginRevocations {
    pub fn new(
        shared: Arc<dyn RevokedLogins>,
        announcements: Arc<dyn LoginAnnouncements>,
        sockets: Arc<dyn LoginSockets>,
        clock: Arc<dyn Clock>,
        access_ttl: chrono::Duration,
    ) -> Self {
        Self {
            shared,
            announcements,
            sockets,
            known: MemoryRevokedLogins::new(clock.clone()),
            cleared: RecentlyCleared::default(),
            clock,
            remember_for: access_ttl + CLOCK_SKEW,
        }
    }

    /// Ends a login on every node: at once on this one, through the shared store and an
    /// announcement on the others. A store or announcement that fails is logged, not returned:
    /// the login's refresh tokens are revoked already, and the nodes that do hear of it (or
    /// ask the store) refuse its access tokens.
    pub async fn revoke(&self, ended: LoginEnded) {
        let until = self.clock.now() + self.remember_for;
        self.hear(ended.login);
        if let Err(err) = self.shared.revoke(ended.login, until).await {
            tracing::warn!(login = %ended.login, error = ?err, "a login's revocation was not stored");
        }
        if let Err(err) = self.announcements.announce(&ended).await {
            tracing::warn!(login = %ended.login, error = ?err, "a login's revocation was not announced");
        }
    }

    /// Whether the login ended: what this node knows, else (at most once a second per login)
    /// what the shared store says. A store that cannot answer counts as "not revoked".
    pub async fn is_revoked(&self, login: LoginId) -> bool {
        if self.known.knows(login) {
            return true;
        }
        if self.cleared.contains(login) {
            return false;
        }
        match tokio::time::timeout(LOOKUP_TIMEOUT, self.shared.is_revoked(login)).await {
            Ok(Ok(true)) => {
                // An announcement this node missed: its sockets of the login close now.
                self.hear(login);
                true
            }
            Ok(Ok(false)) => {
                self.cleared.insert(login);
                false
            }
            Ok(Err(err)) => self.unanswered(login, &err),
            Err(_) => self.unanswered(login, &RevocationError::new("the lookup timed out")),
        }
    }

    /// Whether this node knows the login ended, without asking anyone: for a socket that has
    /// just registered, so that an announcement heard meanwhile is not missed.
    pub fn known_revoked(&self, login: LoginId) -> bool {
        self.known.knows(login)
    }

    /// Subscribes to the announcements, and returns the task that acts on them until the
    /// subscription ends: each one is remembered and the login's sockets on this node closed.
    pub async fn follow(
        self: &Arc<Self>,
    ) -> Result<impl Future<Output = ()> + Send + 'static, RevocationError> {
        let mut announcements = self.announcements.subscribe().await?;
        let revocations = self.clone();
        Ok(async move {
            while let Some(ended) = announcements.next().await {
                revocations.hear(ended.login);
            }
        })
    }

    /// Remembers that the login ended and closes its sockets on this node.
    fn hear(&self, login: LoginId) {
        self.known.remember(login, self.clock.now() + self.remember_for);
        let closed = self.sockets.close(login);
        if closed > 0 {
            tracing::info!(%login, closed, "closed the sockets of an ended login");
        }
    }

    fn unanswered(&self, login: LoginId, err: &RevocationError) -> bool {
        tracing::debug!(%login, error = ?err, "revocations could not be looked up");
        self.cleared.insert(login);
        false
    }
}

/// Logins the shared store recently said were not revoked, kept in two generations that turn
/// over every [`CLEARED_WINDOW`]: an entry lives between one and two windows, and the sets hold
/// only the logins checked within the last two.
#[derive(Default)]
struct RecentlyCleared(Mutex<Generations>);

#[derive(Default)]
struct Generations {
    started: Option<Instant>,
    current: HashSet<LoginId>,
    previous: HashSet<LoginId>,
}

impl RecentlyCleared {
    fn turned(&self) -> MutexGuard<'_, Generations> {
        let mut generations = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let age = generations.started.map(|started| now.saturating_duration_since(started));
        match age {
            Some(age) if age < CLEARED_WINDOW => {}
            Some(age) if age < 2 * CLEARED_WINDOW => {
                generations.previous = std::mem::take(&mut generations.current);
                generations.started = Some(now);
            }
            _ => {
                generations.previous.clear();
                generations.current.clear();
                generations.started = Some(now);
            }
        }
        generations
    }

    fn contains(&self, login: LoginId) -> bool {
        let generations = self.turned();
        generations.current.contains(&login) || generations.previous.contains(&login)
    }

    fn insert(&self, login: LoginId) {
        self.turned().current.insert(login);
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::domain::UserId;
    use crate::memory::{ManualClock, MemoryLoginAnnouncements};
    use crate::usecases::testkit::ClosedLogins;

    /// Two nodes sharing a revocation store and announcements.
    struct Cluster {
        clock: Arc<ManualClock>,
        store: Arc<MemoryRevokedLogins>,
        nodes: [(Arc<LoginRevocations>, Arc<ClosedLogins>); 2],
    }

    impl Cluster {
        async fn new() -> Self {
            let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()));
            let store = Arc::new(MemoryRevokedLogins::new(clock.clone()));
            let announcements = Arc::new(MemoryLoginAnnouncements::default());
            let node = || {
                let closed = Arc::new(ClosedLogins::default());
                let revocations = Arc::new(LoginRevocations::new(
                    store.clone(),
                    announcements.clone(),
                    closed.clone(),
                    clock.clone(),
                    chrono::Duration::minutes(15),
                ));
                (revocations, closed)
            };
            let nodes = [node(), node()];
            for (revocations, _) in &nodes {
                tokio::spawn(revocations.follow().await.unwrap());
            }
            Self { clock, store, nodes }
        }
    }

    fn ended() -> LoginEnded {
        LoginEnded { login: LoginId::generate(), user: UserId::generate() }
    }

    /// Waits for the other node's task to act on an announcement.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_revocation_closes_the_logins_sockets_on_every_node_and_is_refused_everywhere() {
        let cluster = Cluster::new().await;
        let (ann, bob) = (ended(), ended());
        cluster.nodes[0].0.revoke(ann).await;
        settle().await;
        for (revocations, closed) in &cluster.nodes {
            assert!(closed.all().contains(&ann.login));
            assert!(revocations.known_revoked(ann.login));
            assert!(revocations.is_revoked(ann.login).await);
            assert!(!revocations.is_revoked(bob.login).await);
        }
    }

    #[tokio::test]
    async fn a_revocation_is_forgotten_once_the_logins_tokens_have_expired() {
        let cluster = Cluster::new().await;
        let ann = ended();
        cluster.nodes[0].0.revoke(ann).await;
        cluster.clock.advance(chrono::Duration::minutes(15));
        assert!(cluster.nodes[0].0.is_revoked(ann.login).await, "a token issued just before lives on");
        cluster.clock.advance(chrono::Duration::minutes(2));
        assert!(!cluster.store.knows(ann.login));
        assert!(!cluster.nodes[0].0.known_revoked(ann.login));
    }

    #[tokio::test(start_paused = true)]
    async fn a_node_that_missed_the_announcement_learns_from_the_store_within_a_second() {
        let cluster = Cluster::new().await;
        let (node, closed) = &cluster.nodes[1];
        let ann = ended();
        assert!(!node.is_revoked(ann.login).await);
        // Revoked where the announcement never reached this node.
        cluster.store.remember(ann.login, cluster.clock.now() + chrono::Duration::minutes(15));
        assert!(!node.is_revoked(ann.login).await, "the store's last answer is trusted briefly");
        tokio::time::advance(2 * CLEARED_WINDOW).await;
        assert!(node.is_revoked(ann.login).await);
        assert_eq!(closed.all(), vec![ann.login], "its sockets close on the way");
    }

    /// A shared store that is down.
    struct Down;

    #[async_trait]
    impl RevokedLogins for Down {
        async fn revoke(&self, _: LoginId, _: chrono::DateTime<Utc>) -> Result<(), RevocationError> {
            Err(RevocationError::new("down"))
        }

        async fn is_revoked(&self, _: LoginId) -> Result<bool, RevocationError> {
            Err(RevocationError::new("down"))
        }
    }

    #[tokio::test]
    async fn with_the_store_down_a_node_accepts_logins_it_knows_nothing_of_and_refuses_those_it_heard_of() {
        let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()));
        let announcements = Arc::new(MemoryLoginAnnouncements::default());
        let node = |closed: Arc<ClosedLogins>| {
            Arc::new(LoginRevocations::new(
                Arc::new(Down),
                announcements.clone(),
                closed,
                clock.clone(),
                chrono::Duration::minutes(15),
            ))
        };
        let (here, there) = (node(Arc::default()), node(Arc::default()));
        tokio::spawn(there.follow().await.unwrap());
        let ann = ended();
        here.revoke(ann).await;
        settle().await;
        assert!(here.is_revoked(ann.login).await);
        assert!(there.is_revoked(ann.login).await);
        assert!(!there.is_revoked(LoginId::generate()).await);
    }
}
