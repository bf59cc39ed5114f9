//! Who a socket's token names: at the upgrade, and at each renewal within the session.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use chat_shared::domain::{LoginId, UserId};
use chat_shared::error::Error;

use super::close::Close;
use crate::state::AppState;

/// Why a token did not authenticate a socket. Only a token that is bad in itself, or names a
/// user who no longer exists, is `Invalid`: a client that hears so throws its token away, so
/// a store that cannot answer must not say it.
#[derive(Debug)]
pub enum AuthRefusal {
    Invalid,
    /// The token's login ended.
    Ended,
    /// The user could not be looked up; the token may be good.
    Unavailable,
    Internal,
}

impl AuthRefusal {
    /// How a socket refused for this is closed.
    pub fn close(&self) -> Close {
        match self {
            AuthRefusal::Invalid => Close::InvalidToken,
            AuthRefusal::Ended => Close::LoginEnded,
            AuthRefusal::Unavailable => Close::TryAgainLater,
            AuthRefusal::Internal => Close::Internal,
        }
    }
}

/// Who a valid token names.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated {
    pub user: UserId,
    /// `None` for a token issued before tokens named their login.
    pub login: Option<LoginId>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
}

/// The user a token names, if it is valid, its login has not ended and the user still exists.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Authenticated, AuthRefusal> {
    let claims = state.issuer.verify(token, state.clock.now()).map_err(|_| AuthRefusal::Invalid)?;
    if let Some(login) = claims.login
        && state.revocations.is_revoked(login).await
    {
        return Err(AuthRefusal::Ended);
    }
    let authenticated =
        Authenticated { user: claims.user_id, login: claims.login, expires_at: claims.expires_at };
    match state.users.me(claims.user_id).await {
        Ok(_) => Ok(authenticated),
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
