//! Who a socket's token names: at the upgrade, and at each renewal within the session.

use chat_shared::domain::UserId;
use chat_shared::error::Error;

use super::close::Close;
use crate::state::AppState;

/// Why a token did not authenticate a socket. Only a token that is bad in itself, or names a
/// user who no longer exists, is `Invalid`: a client that hears so throws its token away, so
/// a store that cannot answer must not say it.
#[derive(Debug)]
pub enum AuthRefusal {
    Invalid,
    /// The user could not be looked up; the token may be good.
    Unavailable,
    Internal,
}

impl AuthRefusal {
    /// How a socket refused for this is closed.
    pub fn close(&self) -> Close {
        match self {
            AuthRefusal::Invalid => Close::InvalidToken,
            AuthRefusal::Unavailable => Close::TryAgainLater,
            AuthRefusal::Internal => Close::Internal,
        }
    }
}

/// The user a token names, if it is valid and the user still exists, with its expiry.
pub async fn authenticate(
    state: &AppState,
    token: &str,
) -> Result<(UserId, chrono::DateTime<chrono::Utc>), AuthRefusal> {
    let claims = state.issuer.verify(token, state.clock.now()).map_err(|_| AuthRefusal::Invalid)?;
    match state.users.me(claims.user_id).await {
        Ok(_) => Ok((claims.user_id, claims.expires_at)),
        Err(Error::Unauthorized | Error::NotFound(_)) => Err(AuthRefusal::Invalid),
        Err(Error::Unavailable(source)) => {
            tracing::warn!(error = %source, "a socket's user could not be looked up");
            Err(AuthRefusal::Unavailable)
        }
        Err(err) => {
            tracing::error!(error = ?err, "a socket's user could not be looked up");
            Err(AuthRefusal::Internal)
        }
    }
}
