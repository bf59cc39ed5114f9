//! Abuse limits: how often a client may try a password, register or refresh, and how often a
//! user may change rooms, send over REST or search the directory. Counted in a store every node shares, so spreading
//! attempts over nodes does not multiply them; while that store is unreachable each node counts
//! alone, which loosens a limit by the number of nodes but never lifts it.

use std::fmt::Write as _;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::domain::UserId;
use crate::error::Error;
use crate::ports::{Decision, LimitSetting, Quota, RateLimiter};

/// What is limited. Each has its own quota and its own keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Wrong passwords from one client address.
    LoginPerClient,
    /// Wrong passwords given for one username, from anywhere.
    LoginPerUsername,
    /// Registrations from one client address.
    RegisterPerClient,
    /// Token refreshes from one client address.
    RefreshPerClient,
    /// Room creations, member changes and profile changes of one user.
    WritesPerUser,
    /// Messages one user sends over REST.
    SendsPerUser,
    /// Searches of the user directory by one user.
    SearchesPerUser,
}

impl Limit {
    /// The limit's name in keys, metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Limit::LoginPerClient => "login_client",
            Limit::LoginPerUsername => "login_username",
            Limit::RegisterPerClient => "register_client",
            Limit::RefreshPerClient => "refresh_client",
            Limit::WritesPerUser => "writes_user",
            Limit::SendsPerUser => "sends_user",
            Limit::SearchesPerUser => "search_user",
        }
    }
}

/// The quota of each limit, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    pub login_per_client: LimitSetting,
    pub login_per_username: LimitSetting,
    pub register_per_client: LimitSetting,
    pub refresh_per_client: LimitSetting,
    pub writes_per_user: LimitSetting,
    pub sends_per_user: LimitSetting,
    pub searches_per_user: LimitSetting,
}

impl LimitSettings {
    /// Every limit off.
    pub const OFF: LimitSettings = LimitSettings {
        login_per_client: LimitSetting::Off,
        login_per_username: LimitSetting::Off,
        register_per_client: LimitSetting::Off,
        refresh_per_client: LimitSetting::Off,
        writes_per_user: LimitSetting::Off,
        sends_per_user: LimitSetting::Off,
        searches_per_user: LimitSetting::Off,
    };

    fn quota(&self, limit: Limit) -> Option<Quota> {
        match limit {
            Limit::LoginPerClient => self.login_per_client,
            Limit::LoginPerUsername => self.login_per_username,
            Limit::RegisterPerClient => self.register_per_client,
            Limit::RefreshPerClient => self.refresh_per_client,
            Limit::WritesPerUser => self.writes_per_user,
            Limit::SendsPerUser => self.sends_per_user,
            Limit::SearchesPerUser => self.searches_per_user,
        }
        .quota()
    }
}

/// Longest username kept as it is in a key; longer ones (never valid, but anyone can send
/// them) are hashed, so a key's size does not depend on what a client sends.
const MAX_KEY_USERNAME: usize = 64;

pub struct AbuseLimits {
    /// The store every node shares (this process's, when embedded).
    shared: Arc<dyn RateLimiter>,
    /// This node's own count, used while `shared` fails.
    local: Arc<dyn RateLimiter>,
    settings: LimitSettings,
}

impl AbuseLimits {
    pub fn new(shared: Arc<dyn RateLimiter>, local: Arc<dyn RateLimiter>, settings: LimitSettings) -> Self {
        Self { shared, local, settings }
    }

    /// An attempt from `client` at `username`'s password (a login, or a password change that
    /// names the current one): refused with `RateLimited` when either has failed too often
    /// lately, otherwise `attempt` runs. Only wrong passwords count (`Unauthorized` from a
    /// login, `Forbidden` from a change): an attempt that succeeds, or fails for a reason that
    /// is not the client's, gives its count back, so an office behind one address is not locked
    /// out by its own users. Attempts in flight count until they end, so parallel guesses
    /// cannot slip past the limit.
    pub async fn password_attempt<T>(
        &self,
        client: IpAddr,
        username: &str,
        attempt: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let client = client_key(client);
        let username = username_key(username);
        self.check(Limit::LoginPerClient, &client).await?;
        if let Err(limited) = self.check(Limit::LoginPerUsername, &username).await {
            self.give_back(Limit::LoginPerClient, &client).await;
            return Err(limited);
        }
        let outcome = attempt.await;
        if !matches!(outcome, Err(Error::Unauthorized | Error::Forbidden(_))) {
            self.give_back(Limit::LoginPerClient, &client).await;
            self.give_back(Limit::LoginPerUsername, &username).await;
        }
        outcome
    }

    /// Counts one attempt of `client` at a per-client limit (registration, refresh).
    pub async fn client(&self, limit: Limit, client: IpAddr) -> Result<(), Error> {
        self.check(limit, &client_key(client)).await
    }

    /// Counts one action of `user` at a per-user limit.
    pub async fn user(&self, limit: Limit, user: UserId) -> Result<(), Error> {
        self.check(limit, &user.to_string()).await
    }

    async fn check(&self, limit: Limit, subject: &str) -> Result<(), Error> {
        let Some(quota) = self.settings.quota(limit) else { return Ok(()) };
        let key = format!("{}:{subject}", limit.name());
        let decision = match self.shared.acquire(&key, quota).await {
            Ok(decision) => decision,
            Err(err) => {
                tracing::warn!(error = %err, limit = limit.name(), "the shared rate limits are unreachable; counting on this node alone");
                // The local limiter cannot fail.
                self.local.acquire(&key, quota).await.unwrap_or(Decision::Allowed)
            }
        };
        match decision {
            Decision::Allowed => Ok(()),
            Decision::Limited { retry_after } => Err(Error::RateLimited { limit: limit.name(), retry_after }),
        }
    }

    async fn give_back(&self, limit: Limit, subject: &str) {
        let Some(quota) = self.settings.quota(limit) else { return };
        let key = format!("{}:{subject}", limit.name());
        if self.shared.release(&key, quota).await.is_err() {
            // Given back where it may have been counted instead.
            let _ = self.local.release(&key, quota).await;
        }
    }
}

/// The key of a client address. An IPv6 client is keyed by its /64, the block one subscriber
/// is usually given: otherwise each of its 2^64 addresses would have a quota of its own.
fn client_key(client: IpAddr) -> String {
    match client {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The key of a username as typed: usernames are unique regardless of case.
fn username_key(username: &str) -> String {
    let lower = username.to_lowercase();
    if lower.len() <= MAX_KEY_USERNAME {
        return lower;
    }
    Sha256::digest(lower.as_bytes()).iter().take(16).fold(String::from("#"), |mut key, byte| {
        let _ = write!(key, "{byte:02x}");
        key
    })
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    use async_trait::async_trait;
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::memory::{ManualClock, MemoryRateLimiter};
    use crate::ports::StoreError;

    const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
    const OTHER_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 8));

    struct Fixture {
        clock: Arc<ManualClock>,
        limits: AbuseLimits,
    }

    fn with(shared: Arc<dyn RateLimiter>, clock: Arc<ManualClock>, settings: LimitSettings) -> Fixture {
        let local = Arc::new(MemoryRateLimiter::new(clock.clone()));
        Fixture { clock, limits: AbuseLimits::new(shared, local, settings) }
    }

    fn fixture(settings: LimitSettings) -> Fixture {
        let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()));
        with(Arc::new(MemoryRateLimiter::new(clock.clone())), clock, settings)
    }

    fn setting(text: &str) -> LimitSetting {
        text.parse().unwrap()
    }

    fn login_limits(per_client: &str, per_username: &str) -> LimitSettings {
        LimitSettings {
            login_per_client: setting(per_client),
            login_per_username: setting(per_username),
            ..LimitSettings::OFF
        }
    }

    async fn fail(limits: &AbuseLimits, client: IpAddr, username: &str) -> Result<(), Error> {
        limits.password_attempt(client, username, async { Err::<(), _>(Error::Unauthorized) }).await
    }

    async fn succeed(limits: &AbuseLimits, client: IpAddr, username: &str) -> Result<(), Error> {
        limits.password_attempt(client, username, async { Ok(()) }).await
    }

    fn retry_after(result: Result<(), Error>) -> Option<Duration> {
        match result {
            Err(Error::RateLimited { retry_after, .. }) => Some(retry_after),
            _ => None,
        }
    }

    #[tokio::test]
    async fn failed_logins_of_one_username_are_limited_from_every_client() {
        let f = fixture(login_limits("off", "3/1m"));
        for _ in 0..3 {
            assert!(matches!(fail(&f.limits, CLIENT, "ann").await, Err(Error::Unauthorized)));
        }
        // The fourth guess is refused before the password is even looked at, wherever from,
        // and in whatever case the name is typed.
        let refused = fail(&f.limits, OTHER_CLIENT, "ANN").await;
        assert_eq!(retry_after(refused), Some(Duration::from_secs(20)));
        assert!(matches!(fail(&f.limits, CLIENT, "bob").await, Err(Error::Unauthorized)));
        f.clock.advance(chrono::Duration::seconds(20));
        assert!(matches!(fail(&f.limits, CLIENT, "ann").await, Err(Error::Unauthorized)));
    }

    #[tokio::test]
    async fn failed_logins_from_one_client_are_limited_whatever_the_username() {
        let f = fixture(login_limits("2/1m", "off"));
        fail(&f.limits, CLIENT, "ann").await.unwrap_err();
        fail(&f.limits, CLIENT, "bob").await.unwrap_err();
        assert!(retry_after(fail(&f.limits, CLIENT, "cid").await).is_some());
        assert!(retry_after(succeed(&f.limits, CLIENT, "ann").await).is_some(), "even the right password");
        assert!(succeed(&f.limits, OTHER_CLIENT, "ann").await.is_ok());
    }

    #[tokio::test]
    async fn successful_logins_use_up_nothing() {
        let f = fixture(login_limits("2/1m", "2/1m"));
        for _ in 0..10 {
            succeed(&f.limits, CLIENT, "ann").await.unwrap();
        }
        fail(&f.limits, CLIENT, "ann").await.unwrap_err();
        succeed(&f.limits, CLIENT, "ann").await.unwrap();
        fail(&f.limits, CLIENT, "ann").await.unwrap_err();
        assert!(retry_after(fail(&f.limits, CLIENT, "ann").await).is_some());
    }

    #[tokio::test]
    async fn a_login_that_fails_for_want_of_a_service_is_not_held_against_the_client() {
        let f = fixture(login_limits("1/1m", "1/1m"));
        for _ in 0..3 {
            let down = f
                .limits
                .password_attempt(CLIENT, "ann", async { Err::<(), _>(Error::Unavailable("db".into())) })
                .await;
            assert!(matches!(down, Err(Error::Unavailable(_))));
        }
        assert!(matches!(fail(&f.limits, CLIENT, "ann").await, Err(Error::Unauthorized)));
    }

    #[tokio::test]
    async fn a_wrong_current_password_counts_like_a_failed_login() {
        let f = fixture(login_limits("off", "2/1m"));
        let wrong_current = || {
            f.limits
                .password_attempt(CLIENT, "ann", async { Err::<(), _>(Error::Forbidden("wrong password")) })
        };
        assert!(matches!(wrong_current().await, Err(Error::Forbidden(_))));
        fail(&f.limits, CLIENT, "ann").await.unwrap_err();
        assert!(retry_after(wrong_current().await).is_some());
        assert!(retry_after(succeed(&f.limits, CLIENT, "ann").await).is_some());
    }

    #[tokio::test]
    async fn a_username_refused_gives_the_clients_attempt_back() {
        let f = fixture(login_limits("2/1m", "1/1m"));
        fail(&f.limits, CLIENT, "ann").await.unwrap_err();
        for _ in 0..5 {
            assert!(retry_after(fail(&f.limits, CLIENT, "ann").await).is_some());
        }
        // Only the one real failure counted against the client.
        assert!(matches!(fail(&f.limits, CLIENT, "bob").await, Err(Error::Unauthorized)));
    }

    #[tokio::test]
    async fn every_ipv6_address_of_one_64_block_shares_a_quota() {
        let f = fixture(LimitSettings { register_per_client: setting("1/1h"), ..LimitSettings::OFF });
        let first = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, 1));
        let same_block = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0xffff, 1, 2, 3));
        let next_block = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1));
        f.limits.client(Limit::RegisterPerClient, first).await.unwrap();
        assert!(retry_after(f.limits.client(Limit::RegisterPerClient, same_block).await).is_some());
        f.limits.client(Limit::RegisterPerClient, next_block).await.unwrap();
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        f.limits.client(Limit::RegisterPerClient, CLIENT).await.unwrap();
        assert!(retry_after(f.limits.client(Limit::RegisterPerClient, mapped).await).is_some());
    }

    #[tokio::test]
    async fn each_limit_counts_apart_and_an_off_limit_never_refuses() {
        let settings = LimitSettings { writes_per_user: setting("1/1m"), ..LimitSettings::OFF };
        let f = fixture(settings);
        let user = UserId::generate();
        f.limits.user(Limit::WritesPerUser, user).await.unwrap();
        assert!(retry_after(f.limits.user(Limit::WritesPerUser, user).await).is_some());
        f.limits.user(Limit::WritesPerUser, UserId::generate()).await.unwrap();
        for _ in 0..100 {
            f.limits.user(Limit::SendsPerUser, user).await.unwrap();
            f.limits.client(Limit::RefreshPerClient, CLIENT).await.unwrap();
        }
    }

    #[test]
    fn a_long_username_is_keyed_by_a_hash_of_fixed_size() {
        let long = "a".repeat(10_000);
        let key = username_key(&long);
        assert_eq!(key.len(), 33);
        assert_eq!(key, username_key(&long.to_uppercase()));
        assert_ne!(key, username_key(&"a".repeat(9_999)));
        assert_eq!(username_key("Ann"), "ann");
    }

    /// A shared store that is down.
    struct Unreachable;

    #[async_trait]
    impl RateLimiter for Unreachable {
        async fn acquire(&self, _: &str, _: Quota) -> Result<Decision, StoreError> {
            Err(StoreError::unavailable("connection refused"))
        }

        async fn release(&self, _: &str, _: Quota) -> Result<(), StoreError> {
            Err(StoreError::unavailable("connection refused"))
        }
    }

    #[tokio::test]
    async fn while_the_shared_store_is_down_the_node_still_counts_on_its_own() {
        let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()));
        let f = with(Arc::new(Unreachable), clock, login_limits("off", "2/1m"));
        succeed(&f.limits, CLIENT, "ann").await.unwrap();
        fail(&f.limits, CLIENT, "ann").await.unwrap_err();
        fail(&f.limits, CLIENT, "ann").await.unwrap_err();
        assert!(retry_after(fail(&f.limits, CLIENT, "ann").await).is_some());
    }
}
