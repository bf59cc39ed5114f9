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
use crate::error::{ApiError, ErrorResponse};
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RegisterRequest {
    /// 3 to 32 of `a-z A-Z 0-9 _ . -`, unique ignoring case.
    #[schema(required = true, value_type = String, pattern = "^[A-Za-z0-9_.-]{3,32}$")]
    username: Option<String>,
    /// 8 to 128 characters.
    #[schema(required = true, value_type = String, min_length = 8, max_length = 128)]
    password: Option<String>,
    /// 1 to 64 characters, something visible, no control characters or bidirectional
    /// overrides; the username when absent.
    #[schema(required = false, nullable, value_type = String, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*[!-~\\u00A1-\\u00AC\\u00AE-\\u034E\\u0350-\\u061B\\u061D-\\u115E\\u1161-\\u167F\\u1681-\\u17B3\\u17B6-\\u180A\\u1810-\\u1FFF\\u2010-\\u2027\\u2030-\\u205E\\u2070-\\u2FFF\\u3001-\\u3163\\u3165-\\uD7FF\\uE000-\\uFDFF\\uFE10-\\uFEFE\\uFF00-\\uFF9F\\uFFA1-\\uFFEF][^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$")]
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

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    #[schema(required = true, value_type = String)]
    username: Option<String>,
    #[schema(required = true, value_type = String)]
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

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RefreshRequest {
    #[schema(required = true, value_type = String)]
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

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionResponse {
    user: User,
    access_token: String,
    refresh_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds the access token lives.
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

#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = RegisterRequest, responses(
    (status = 201, description = "registered and logged in", body = SessionResponse),
    (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 409, description = "`conflict`: the username is taken", body = ErrorResponse),
    (status = 413, description = "`payload_too_large`", body = ErrorResponse), (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse),
))]
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

#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = SessionResponse), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse),
    (status = 401, description = "`unauthorized`: wrong username or password", body = ErrorResponse),
    (status = 403, description = "`forbidden`: the account is disabled", body = ErrorResponse),
    (status = 413, description = "`payload_too_large`", body = ErrorResponse), (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse),
))]
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

#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, description = "a new access token and the refresh token's successor", body = SessionResponse),
    (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: unknown, spent, expired or revoked", body = ErrorResponse),
    (status = 413, description = "`payload_too_large`", body = ErrorResponse), (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse),
))]
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

#[utoipa::path(post, path = "/auth/logout", tag = "auth", request_body = RefreshRequest, responses(
    (status = 204, description = "the login is ended on every node"), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse),
    (status = 401, description = "`unauthorized`: an unknown refresh token", body = ErrorResponse), (status = 413, description = "`payload_too_large`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse),
))]
pub async fn logout(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    state.auth.logout(&body.token()?).await?;
    Ok(StatusCode::NO_CONTENT)
}
