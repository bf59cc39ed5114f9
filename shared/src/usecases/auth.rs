use std::sync::Arc;

use chrono::Duration;
use uuid::Uuid;

use crate::domain::{
    AccessToken, DisplayName, Password, RefreshToken, RefreshTokenRecord, User, UserId, Username,
};
use crate::error::Error;
use crate::ports::{Clock, InsertUserError, PasswordHasher, RefreshTokenStore, TokenIssuer, UserStore};

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
/// since only a thief or a replay would do that.
pub struct AuthService {
    users: Arc<dyn UserStore>,
    tokens: Arc<dyn RefreshTokenStore>,
    hasher: Arc<dyn PasswordHasher>,
    issuer: Arc<dyn TokenIssuer>,
    clock: Arc<dyn Clock>,
    refresh_ttl: Duration,
}

impl AuthService {
    pub fn new(
        users: Arc<dyn UserStore>,
        tokens: Arc<dyn RefreshTokenStore>,
        hasher: Arc<dyn PasswordHasher>,
        issuer: Arc<dyn TokenIssuer>,
        clock: Arc<dyn Clock>,
        refresh_ttl: Duration,
    ) -> Self {
        Self { users, tokens, hasher, issuer, clock, refresh_ttl }
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
            self.tokens.revoke_family(record.family_id, now).await?;
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
        self.tokens.revoke_family(record.family_id, self.clock.now()).await?;
        Ok(())
    }

    async fn start_session(&self, user: User, family_id: Uuid) -> Result<Session, Error> {
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
        let access = self.issuer.issue(user.id, now);
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

    #[tokio::test]
    async fn an_unknown_refresh_token_is_refused() {
        let kit = Kit::new();
        let unknown = RefreshToken::from_client("made-up");
        assert!(matches!(kit.auth.refresh(&unknown).await, Err(Error::Unauthorized)));
    }
}
