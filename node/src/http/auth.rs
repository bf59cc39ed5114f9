//! `/auth/*`: register, login, refresh, logout.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chat_shared::domain::{DisplayName, Password, RefreshToken, User, Username};
use chat_shared::error::FieldErrors;
use chat_shared::usecases::{Limit, Registration, Session};
use serde::{Deserialize, Serialize};

use super::client_ip::ClientIp;
use super::extract::JsonBody;
use super::fields::{reject_invalid, required};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct RegisterRequest {
    username: Option<String>,
    password: Option<String>,
    display_name: Option<String>,
}

impl RegisterRequest {
    pub fn try_into_domain(self) -> Result<Registration, ApiError> {
        let mut fields = FieldErrors::default();
        let username = required(&mut fields, "username", &self.username).map(Username::parse);
        let username = username.and_then(|r| fields.check("username", r));
        let password = required(&mut fields, "password", &self.password).map(Password::parse);
        let password = password.and_then(|r| fields.check("password", r));
        let display_name = match &self.display_name {
            Some(name) => fields.check("display_name", DisplayName::parse(name)),
            None => None,
        };
        reject_invalid(fields)?;
        match (username, password) {
            (Some(username), Some(password)) => Ok(Registration { username, password, display_name }),
            _ => Err(ApiError::Internal),
        }
    }
}

#[derive(Deserialize)]
pub struct LoginRequest {
    username: Option<String>,
    password: Option<String>,
}

impl LoginRequest {
    /// The username and password, both required; checked against the stored user only by login.
    pub fn credentials(&self) -> Result<(&str, &str), ApiError> {
        let mut fields = FieldErrors::default();
        let username = required(&mut fields, "username", &self.username);
        let password = required(&mut fields, "password", &self.password);
        reject_invalid(fields)?;
        Ok((username.unwrap_or_default(), password.unwrap_or_default()))
    }
}

#[derive(Deserialize)]
pub struct RefreshRequest {
    refresh_token: Option<String>,
}

impl RefreshRequest {
    pub fn token(&self) -> Result<RefreshToken, ApiError> {
        let mut fields = FieldErrors::default();
        let token = required(&mut fields, "refresh_token", &self.refresh_token);
        reject_invalid(fields)?;
        Ok(RefreshToken::from_client(token.unwrap_or_default()))
    }
}

#[derive(Serialize)]
pub struct SessionResponse {
    user: User,
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: u64,
}

impl From<Session> for SessionResponse {
    fn from(session: Session) -> Self {
        Self {
            user: session.user,
            access_token: session.access.token,
            refresh_token: session.refresh.expose().to_owned(),
            token_type: "Bearer",
            expires_in: session.access.expires_in_secs,
        }
    }
}

pub async fn register(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    JsonBody(body): JsonBody<RegisterRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let registration = body.try_into_domain()?;
    state.limits.client(Limit::RegisterPerClient, client).await?;
    let session = state.auth.register(registration).await?;
    Ok((StatusCode::CREATED, Json(SessionResponse::from(session))))
}

pub async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    JsonBody(body): JsonBody<LoginRequest>,
) -> Result<Json<SessionResponse>, ApiError> {
    let (username, password) = body.credentials()?;
    let session =
        state.limits.password_attempt(client, username, state.auth.login(username, password)).await?;
    Ok(Json(session.into()))
}

pub async fn refresh(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<Json<SessionResponse>, ApiError> {
    let token = body.token()?;
    state.limits.client(Limit::RefreshPerClient, client).await?;
    let session = state.auth.refresh(&token).await?;
    Ok(Json(session.into()))
}

pub async fn logout(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    state.auth.logout(&body.token()?).await?;
    Ok(StatusCode::NO_CONTENT)
}
