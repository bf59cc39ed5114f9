//! `RevokedLogins` in Redis: one key per ended login, `P:revoked:{login}`, that expires when the
//! login's last access token does. It shares the connection of [`RedisPresence`].

use async_trait::async_trait;
use chat_shared::domain::LoginId;
use chat_shared::ports::{RevocationError, RevokedLogins};
use chrono::{DateTime, Utc};
use fred::prelude::*;
use fred::types::{Expiration, SetOptions};

use crate::redis::RedisPresence;

#[derive(Clone)]
pub struct RedisRevokedLogins {
    client: Client,
    prefix: String,
}

/// Counts and wraps a Redis failure.
fn failure(err: Error) -> RevocationError {
    metrics::counter!("chat_revocations_redis_errors_total").increment(1);
    RevocationError::new(err)
}

impl RedisRevokedLogins {
    /// Over the presence store's connection, with keys under the same prefix.
    pub fn sharing(presence: &RedisPresence) -> Self {
        let (client, prefix) = presence.shared_client();
        Self { client: client.clone(), prefix: prefix.to_owned() }
    }

    fn key(&self, login: LoginId) -> String {
        format!("{}:revoked:{login}", self.prefix)
    }

    /// While the client is disconnected, calls fail at once instead of queueing until the
    /// command timeout: a token check must not wait on Redis.
    fn ensure_connected(&self) -> Result<(), RevocationError> {
        if self.client.is_connected() {
            Ok(())
        } else {
            Err(failure(Error::new(ErrorKind::IO, "Redis is unreachable")))
        }
    }
}

#[async_trait]
impl RevokedLogins for RedisRevokedLogins {
    async fn revoke(&self, login: LoginId, until: DateTime<Utc>) -> Result<(), RevocationError> {
        self.ensure_connected()?;
        let ms = (until - Utc::now()).num_milliseconds().max(1);
        // A time already past (clocks that disagree) still writes the key, for a millisecond.
        let _: Option<String> = self
            .client
            .set(self.key(login), "1", Some(Expiration::PX(ms)), None::<SetOptions>, false)
            .await
            .map_err(failure)?;
        Ok(())
    }

    async fn is_revoked(&self, login: LoginId) -> Result<bool, RevocationError> {
        self.ensure_connected()?;
        let found: u32 = self.client.exists(self.key(login)).await.map_err(failure)?;
        Ok(found > 0)
    }
}
