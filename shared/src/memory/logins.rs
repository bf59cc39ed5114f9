//! Ended logins within one process: the embedded mode's revocation store and announcements,
//! and what every node remembers of the revocations it heard of.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use super::broadcast::broadcast_stream;
use crate::domain::LoginId;
use crate::ports::{Clock, LoginAnnouncements, LoginEnded, LoginEndedStream, RevocationError, RevokedLogins};

/// Ended logins, each until its `until`. Expired entries are dropped as new ones come in, so
/// the map holds no more than the logins ended within one access-token lifetime.
pub struct MemoryRevokedLogins {
    clock: Arc<dyn Clock>,
    ended: Mutex<Ended>,
}

#[derive(Default)]
struct Ended {
    until: HashMap<LoginId, DateTime<Utc>>,
    /// The earliest `until` in the map: nothing expires before it, so revoking need not look.
    next_expiry: Option<DateTime<Utc>>,
}

impl MemoryRevokedLogins {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, ended: Mutex::new(Ended::default()) }
    }

    fn lock(&self) -> MutexGuard<'_, Ended> {
        self.ended.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers that `login` ended, until `until` (the later one, if it is known already).
    pub fn remember(&self, login: LoginId, until: DateTime<Utc>) {
        let now = self.clock.now();
        let mut ended = self.lock();
        if ended.next_expiry.is_some_and(|next| next <= now) {
            ended.until.retain(|_, until| *until > now);
            ended.next_expiry = ended.until.values().min().copied();
        }
        let entry = ended.until.entry(login).or_insert(until);
        *entry = (*entry).max(until);
        ended.next_expiry = Some(ended.next_expiry.map_or(until, |next| next.min(until)));
    }

    /// Whether `login` is known to have ended.
    pub fn knows(&self, login: LoginId) -> bool {
        let now = self.clock.now();
        self.lock().until.get(&login).is_some_and(|until| *until > now)
    }

    /// How many ended logins are held, expired ones not yet dropped included.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().until.len()
    }
}

#[async_trait]
impl RevokedLogins for MemoryRevokedLogins {
    async fn revoke(&self, login: LoginId, until: DateTime<Utc>) -> Result<(), RevocationError> {
        self.remember(login, until);
        Ok(())
    }

    async fn is_revoked(&self, login: LoginId) -> Result<bool, RevocationError> {
        Ok(self.knows(login))
    }
}

/// Announcements within one process.
pub struct MemoryLoginAnnouncements {
    sender: broadcast::Sender<LoginEnded>,
}

impl Default for MemoryLoginAnnouncements {
    fn default() -> Self {
        // Logins end rarely; a subscriber that falls this far behind skips some (at most once).
        Self { sender: broadcast::channel(1024).0 }
    }
}

#[async_trait]
impl LoginAnnouncements for MemoryLoginAnnouncements {
    async fn announce(&self, ended: &LoginEnded) -> Result<(), RevocationError> {
        // Nobody listening is not a failure.
        let _ = self.sender.send(*ended);
        Ok(())
    }

    async fn subscribe(&self) -> Result<LoginEndedStream, RevocationError> {
        Ok(Box::pin(broadcast_stream(self.sender.subscribe())))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::memory::ManualClock;

    #[test]
    fn an_ended_login_is_remembered_until_its_time_and_then_dropped() {
        let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()));
        let revoked = MemoryRevokedLogins::new(clock.clone());
        let (early, late) = (LoginId::generate(), LoginId::generate());
        revoked.remember(early, clock.now() + Duration::minutes(1));
        revoked.remember(late, clock.now() + Duration::minutes(15));
        assert!(revoked.knows(early) && revoked.knows(late));
        assert!(!revoked.knows(LoginId::generate()));

        clock.advance(Duration::minutes(2));
        assert!(!revoked.knows(early));
        assert!(revoked.knows(late));
        revoked.remember(LoginId::generate(), clock.now() + Duration::minutes(15));
        assert_eq!(revoked.len(), 2, "the expired entry is dropped");
    }

    #[test]
    fn remembering_a_login_again_never_shortens_its_time() {
        let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()));
        let revoked = MemoryRevokedLogins::new(clock.clone());
        let login = LoginId::generate();
        revoked.remember(login, clock.now() + Duration::minutes(15));
        revoked.remember(login, clock.now() + Duration::minutes(1));
        clock.advance(Duration::minutes(5));
        assert!(revoked.knows(login));
    }
}
