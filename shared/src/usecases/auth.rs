use std::sync::Arc;

use chrono::Duration;
use uuid::Uuid;

use super::logins::LoginRevocations;
use crate::domain::{
    AccessToken, DisplayName, LoginId, Password, RefreshToken, RefreshTokenRecord, User, UserId, UserRole,
    Username,
};
use crate::error::Error;
use crate::ports::{
    Clock, InsertUserError, LoginEnded, PasswordHasher, RefreshTokenStore, TokenIssuer, UserStore,
};

/// A new account as the client asked for it, already validated.
#[derive(Debug)]
pub struct Registration {
    pub username: Username,
    pub password: Password,
    pub display_name: Option<DisplayName>,
}

/// What a successful register, login or refresh hands the client.
#[derive(Debug)]
pub struct Session {
    pub user: User,
    pub access: AccessToken,
    pub refresh: RefreshToken,
}

/// Registration, login, and the refresh-token lifecycle: each refresh spends its token and issues
/// a successor in the same family; presenting a spent token again revokes the whole family,
/// since only a thief or a replay would do that. A family is a login: its access tokens name it
/// (`sid`), and ending it (logout, reuse, a password change elsewhere) revokes them at once.
pub struct AuthService {
    users: Arc<dyn UserStore>,
    tokens: Arc<dyn RefreshTokenStore>,
    hasher: Arc<dyn PasswordHasher>,
    issuer: Arc<dyn TokenIssuer>,
    revocations: Arc<LoginRevocations>,
    clock: Arc<dyn Clock>,
    refresh_ttl: Duration,
}

/// The adapters the auth use cases run on.
pub struct AuthPorts {
    pub users: Arc<dyn UserStore>,
    pub tokens: Arc<dyn RefreshTokenStore>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub issuer: Arc<dyn TokenIssuer>,
    pub revocations: Arc<LoginRevocations>,
    pub clock: Arc<dyn Clock>,
}

impl AuthService {
    pub fn new(ports: AuthPorts, refresh_ttl: Duration) -> Self {
        let AuthPorts { users, tokens, hasher, issuer, revocations, clock } = ports;
        Self { users, tokens, hasher, issuer, revocations, clock, refresh_ttl }
    }

    pub async fn register(&self, registration: Registration) -> Result<Session, Error> {
        let hash = self.hasher.hash(&registration.password).await.map_err(Error::Internal)?;
        let display_name =
            registration.display_name.unwrap_or_else(|| DisplayName::from_username(&registration.username));
        let user = User {
            id: UserId::generate(),
            username: registration.username,
            display_name,
            created_at: self.clock.now(),
            role: UserRole::User,
            disabled_at: None,
        };
        match self.users.insert(&user, &hash).await {
            Ok(()) => {}
            Err(InsertUserError::UsernameTaken) => return Err(Error::Conflict("username is taken")),
            Err(InsertUserError::Store(err)) => return Err(err.into()),
        }
        self.start_session(user, Uuid::new_v4()).await
    }

    /// Wrong username and wrong password fail alike, in the same time.
    pub async fn login(&self, username: &str, password: &str) -> Result<Session, Error> {
        // A name that could never have registered is not looked up (and spends the same time).
        let credentials = match Username::parse(username) {
            Ok(_) => self.users.credentials(username).await?,
            Err(_) => None,
        };
        let hash = credentials.as_ref().map(|(_, hash)| hash);
        let matches = self.hasher.verify(password, hash).await.map_err(Error::Internal)?;
        match credentials {
            Some((user, _)) if matches => self.start_session(user, Uuid::new_v4()).await,
            _ => Err(Error::Unauthorized),
        }
    }

    pub async fn refresh(&self, presented: &RefreshToken) -> Result<Session, Error> {
        let now = self.clock.now();
        let Some(record) = self.tokens.find(&presented.hash()).await? else {
            return Err(Error::Unauthorized);
        };
        if record.revoked_at.is_some() || record.expires_at <= now {
            return Err(Error::Unauthorized);
        }
        // A spent token presented again, or a concurrent refresh that lost the race to spend
        // it, means the token leaked: end the whole login.
        if record.used_at.is_some() || !self.tokens.consume(record.id, now).await? {
            self.end_login(&record, now).await?;
            return Err(Error::Unauthorized);
        }
        let Some(user) = self.users.by_id(record.user_id).await? else {
            return Err(Error::Unauthorized);
        };
        self.start_session(user, record.family_id).await
    }

    /// Ends the login the token belongs to. Logging out twice is not an error.
    pub async fn logout(&self, presented: &RefreshToken) -> Result<(), Error> {
        let Some(record) = self.tokens.find(&presented.hash()).await? else {
            return Err(Error::Unauthorized);
        };
        self.end_login(&record, self.clock.now()).await
    }

    /// Changes the caller's password after checking the current one, and ends every other
    /// login of theirs. `login` is the caller's own, which stays; `None` (a token older than
    /// logins in tokens) ends them all. A wrong current password is `Forbidden`, not
    /// `Unauthorized`: the caller's token is good, and a client must not throw it away.
    pub async fn change_password(
        &self,
        caller: UserId,
        login: Option<LoginId>,
        current: &str,
        new: &Password,
    ) -> Result<(), Error> {
        let Some(hash) = self.users.password_hash(caller).await? else {
            return Err(Error::Unauthorized);
        };
        if !self.hasher.verify(current, Some(&hash)).await.map_err(Error::Internal)? {
            return Err(Error::Forbidden("the current password is wrong"));
        }
        let hash = self.hasher.hash(new).await.map_err(Error::Internal)?;
        if !self.users.set_password_hash(caller, &hash).await? {
            return Err(Error::Unauthorized);
        }
        let keep = login.map(|login| login.as_uuid());
        let ended = self.tokens.revoke_other_families(caller, keep, self.clock.now()).await?;
        for family in ended {
            self.revocations.revoke(LoginEnded { login: LoginId::from_uuid(family), user: caller }).await;
        }
        Ok(())
    }

    /// Revokes the refresh tokens of the record's login, then its access tokens and sockets.
    async fn end_login(
        &self,
        record: &RefreshTokenRecord,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), Error> {
        self.tokens.revoke_family(record.family_id, at).await?;
        let ended = LoginEnded { login: LoginId::from_uuid(record.family_id), user: record.user_id };
        self.revocations.revoke(ended).await;
        Ok(())
    }

    async fn start_session(&self, user: User, family_id: Uuid) -> Result<Session, Error> {
        if user.disabled_at.is_some() {
            return Err(Error::Forbidden("this account is disabled"));
        }
        let now = self.clock.now();
        let refresh = RefreshToken::generate();
        let record = RefreshTokenRecord {
            id: Uuid::new_v4(),
            user_id: user.id,
            family_id,
            token_hash: refresh.hash(),
            issued_at: now,
            expires_at: now + self.refresh_ttl,
            used_at: None,
            revoked_at: None,
        };
        self.tokens.insert(&record).await?;
        let access = self.issuer.issue(user.id, LoginId::from_uuid(family_id), now);
        Ok(Session { user, access, refresh })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::testkit::Kit;

    fn registration(name: &str) -> Registration {
        Registration {
            username: Username::parse(name).unwrap(),
            password: Password::parse("correct horse").unwrap(),
            display_name: None,
        }
    }

    #[tokio::test]
    async fn registering_returns_a_session_whose_token_names_the_user() {
        let kit = Kit::new();
        let session = kit.auth.register(registration("ann")).await.unwrap();
        assert_eq!(session.user.display_name.as_str(), "ann");
        let claims = kit.issuer.verify(&session.access.token, kit.clock.now()).unwrap();
        assert_eq!(claims.user_id, session.user.id);
    }

    #[tokio::test]
    async fn a_username_is_unique_regardless_of_case() {
        let kit = Kit::new();
        kit.auth.register(registration("ann")).await.unwrap();
        let err = kit.auth.register(registration("ANN")).await.unwrap_err();
        assert!(matches!(err, Error::Conflict(_)));
    }

    #[tokio::test]
    async fn wrong_username_and_wrong_password_fail_the_same_way() {
        let kit = Kit::new();
        kit.auth.register(registration("ann")).await.unwrap();
        assert!(matches!(kit.auth.login("ann", "wrong password").await, Err(Error::Unauthorized)));
        assert!(matches!(kit.auth.login("bob", "correct horse").await, Err(Error::Unauthorized)));
        assert!(kit.auth.login("Ann", "correct horse").await.is_ok());
    }

    #[tokio::test]
    async fn a_refresh_token_works_once_and_its_reuse_kills_the_family() {
        let kit = Kit::new();
        let first = kit.auth.register(registration("ann")).await.unwrap();
        let second = kit.auth.refresh(&first.refresh).await.unwrap();
        // Replaying the spent token fails, and takes the fresh token down with it.
        assert!(matches!(kit.auth.refresh(&first.refresh).await, Err(Error::Unauthorized)));
        assert!(matches!(kit.auth.refresh(&second.refresh).await, Err(Error::Unauthorized)));
    }

    #[tokio::test]
    async fn reuse_in_one_login_leaves_other_logins_alone() {
        let kit = Kit::new();
        let laptop = kit.auth.register(registration("ann")).await.unwrap();
        let phone = kit.auth.login("ann", "correct horse").await.unwrap();
        kit.auth.refresh(&laptop.refresh).await.unwrap();
        let _ = kit.auth.refresh(&laptop.refresh).await;
        assert!(kit.auth.refresh(&phone.refresh).await.is_ok());
    }

    #[tokio::test]
    async fn an_expired_refresh_token_is_refused() {
        let kit = Kit::new();
        let session = kit.auth.register(registration("ann")).await.unwrap();
        kit.clock.advance(Duration::days(31));
        assert!(matches!(kit.auth.refresh(&session.refresh).await, Err(Error::Unauthorized)));
    }

    #[tokio::test]
    async fn logout_ends_the_token_and_its_descendants() {
        let kit = Kit::new();
        let first = kit.auth.register(registration("ann")).await.unwrap();
        let second = kit.auth.refresh(&first.refresh).await.unwrap();
        kit.auth.logout(&second.refresh).await.unwrap();
        assert!(matches!(kit.auth.refresh(&second.refresh).await, Err(Error::Unauthorized)));
        kit.auth.logout(&second.refresh).await.unwrap();
        let unknown = RefreshToken::from_client("never-issued");
        assert!(matches!(kit.auth.logout(&unknown).await, Err(Error::Unauthorized)));
    }

    fn login_of(kit: &Kit, session: &Session) -> LoginId {
        let claims = kit.issuer.verify(&session.access.token, kit.clock.now()).unwrap();
        claims.login.expect("access tokens name their login")
    }

    #[tokio::test]
    async fn every_token_of_one_login_names_it_and_another_login_is_another() {
        let kit = Kit::new();
        let first = kit.auth.register(registration("ann")).await.unwrap();
        let refreshed = kit.auth.refresh(&first.refresh).await.unwrap();
        let other = kit.auth.login("ann", "correct horse").await.unwrap();
        assert_eq!(login_of(&kit, &first), login_of(&kit, &refreshed));
        assert_ne!(login_of(&kit, &first), login_of(&kit, &other));
    }

    #[tokio::test]
    async fn logout_revokes_the_logins_access_tokens_and_closes_its_sockets_only() {
        let kit = Kit::new();
        let laptop = kit.auth.register(registration("ann")).await.unwrap();
        let phone = kit.auth.login("ann", "correct horse").await.unwrap();
        kit.auth.logout(&laptop.refresh).await.unwrap();
        assert!(kit.revocations.is_revoked(login_of(&kit, &laptop)).await);
        assert!(!kit.revocations.is_revoked(login_of(&kit, &phone)).await);
        assert_eq!(kit.closed.all(), vec![login_of(&kit, &laptop)]);
        assert!(kit.revoked.knows(login_of(&kit, &laptop)), "stored for the other nodes");
    }

    #[tokio::test]
    async fn a_replayed_refresh_token_revokes_the_logins_access_tokens() {
        let kit = Kit::new();
        let first = kit.auth.register(registration("ann")).await.unwrap();
        let second = kit.auth.refresh(&first.refresh).await.unwrap();
        assert!(!kit.revocations.is_revoked(login_of(&kit, &second)).await);
        let _ = kit.auth.refresh(&first.refresh).await;
        assert!(kit.revocations.is_revoked(login_of(&kit, &second)).await);
        assert_eq!(kit.closed.all(), vec![login_of(&kit, &second)]);
    }

    #[tokio::test]
    async fn changing_the_password_ends_every_other_login_and_keeps_the_callers() {
        let kit = Kit::new();
        let laptop = kit.auth.register(registration("ann")).await.unwrap();
        let phone = kit.auth.login("ann", "correct horse").await.unwrap();
        let tablet = kit.auth.login("ann", "correct horse").await.unwrap();
        let bob = kit.auth.register(registration("bob")).await.unwrap();
        let new = Password::parse("battery staple").unwrap();

        let ann = laptop.user.id;
        kit.auth.change_password(ann, Some(login_of(&kit, &laptop)), "correct horse", &new).await.unwrap();

        for ended in [&phone, &tablet] {
            assert!(kit.revocations.is_revoked(login_of(&kit, ended)).await);
            assert!(matches!(kit.auth.refresh(&ended.refresh).await, Err(Error::Unauthorized)));
        }
        let mut closed = kit.closed.all();
        closed.sort();
        let mut expected = vec![login_of(&kit, &phone), login_of(&kit, &tablet)];
        expected.sort();
        assert_eq!(closed, expected);
        assert!(!kit.revocations.is_revoked(login_of(&kit, &laptop)).await);
        assert!(kit.auth.refresh(&laptop.refresh).await.is_ok());
        assert!(!kit.revocations.is_revoked(login_of(&kit, &bob)).await);
        assert!(matches!(kit.auth.login("ann", "correct horse").await, Err(Error::Unauthorized)));
        assert!(kit.auth.login("ann", "battery staple").await.is_ok());
    }

    #[tokio::test]
    async fn a_wrong_current_password_is_forbidden_and_changes_nothing() {
        let kit = Kit::new();
        let laptop = kit.auth.register(registration("ann")).await.unwrap();
        let phone = kit.auth.login("ann", "correct horse").await.unwrap();
        let new = Password::parse("battery staple").unwrap();
        let login = Some(login_of(&kit, &laptop));
        for wrong in ["wrong horse", "", "correct horse\0"] {
            let refused = kit.auth.change_password(laptop.user.id, login, wrong, &new).await;
            assert!(matches!(refused, Err(Error::Forbidden(_))), "{wrong:?}: {refused:?}");
        }
        assert!(kit.closed.all().is_empty());
        assert!(kit.auth.refresh(&phone.refresh).await.is_ok());
        assert!(kit.auth.login("ann", "correct horse").await.is_ok());
    }

    #[tokio::test]
    async fn a_caller_whose_token_names_no_login_ends_every_login_of_theirs() {
        let kit = Kit::new();
        let laptop = kit.auth.register(registration("ann")).await.unwrap();
        let new = Password::parse("battery staple").unwrap();
        kit.auth.change_password(laptop.user.id, None, "correct horse", &new).await.unwrap();
        assert!(kit.revocations.is_revoked(login_of(&kit, &laptop)).await);
        assert!(matches!(kit.auth.refresh(&laptop.refresh).await, Err(Error::Unauthorized)));
    }

    #[tokio::test]
    async fn a_password_change_for_a_user_who_is_gone_is_unauthorized() {
        let kit = Kit::new();
        let new = Password::parse("battery staple").unwrap();
        let gone = kit.auth.change_password(UserId::generate(), None, "correct horse", &new).await;
        assert!(matches!(gone, Err(Error::Unauthorized)));
    }

    #[tokio::test]
    async fn an_unknown_refresh_token_is_refused() {
        let kit = Kit::new();
        let unknown = RefreshToken::from_client("made-up");
        assert!(matches!(kit.auth.refresh(&unknown).await, Err(Error::Unauthorized)));
    }
}
