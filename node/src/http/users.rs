//! `/users/*`: profiles.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chat_shared::domain::{DisplayName, Password, User, UserId};
use chat_shared::error::FieldErrors;
use chat_shared::usecases::Limit;
use serde::Deserialize;

use super::client_ip::ClientIp;
use super::extract::{ApiPath, AuthLogin, AuthUser, JsonBody};
use super::fields::{reject_invalid, required};
use crate::error::{ApiError, ErrorResponse};
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct UpdateMeRequest {
    /// 1 to 64 characters, something visible, no control characters or bidirectional overrides.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*[!-~\\u00A1-\\u00AC\\u00AE-\\u034E\\u0350-\\u061B\\u061D-\\u115E\\u1161-\\u167F\\u1681-\\u17B3\\u17B6-\\u180A\\u1810-\\u1FFF\\u2010-\\u2027\\u2030-\\u205E\\u2070-\\u2FFF\\u3001-\\u3163\\u3165-\\uD7FF\\uE000-\\uFDFF\\uFE10-\\uFEFE\\uFF00-\\uFF9F\\uFFA1-\\uFFEF][^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$")]
    display_name: Option<String>,
}

impl UpdateMeRequest {
    pub fn try_into_domain(self) -> Result<DisplayName, ApiError> {
        let mut fields = FieldErrors::default();
        let name = required(&mut fields, "display_name", &self.display_name)
            .and_then(|raw| fields.check("display_name", DisplayName::parse(raw)));
        reject_invalid(fields)?;
        name.ok_or(ApiError::Internal)
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ChangePasswordRequest {
    #[schema(required = true, value_type = String)]
    current_password: Option<String>,
    /// 8 to 128 characters.
    #[schema(required = true, value_type = String, min_length = 8, max_length = 128)]
    new_password: Option<String>,
}

impl ChangePasswordRequest {
    /// The current password as given (checked against the stored one only by the use case)
    /// and the new one, which must meet the policy.
    pub fn try_into_domain(&self) -> Result<(&str, Password), ApiError> {
        let mut fields = FieldErrors::default();
        let current = required(&mut fields, "current_password", &self.current_password);
        let new = required(&mut fields, "new_password", &self.new_password)
            .and_then(|raw| fields.check("new_password", Password::parse(raw)));
        reject_invalid(fields)?;
        match (current, new) {
            (Some(current), Some(new)) => Ok((current, new)),
            _ => Err(ApiError::Internal),
        }
    }
}

#[utoipa::path(get, path = "/users/me", tag = "users", security(("user" = [])), responses(
    (status = 200, body = User), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse),
))]
pub async fn me(State(state): State<AppState>, AuthUser(caller): AuthUser) -> Result<Json<User>, ApiError> {
    Ok(Json(state.users.me(caller).await?))
}

#[utoipa::path(patch, path = "/users/me", tag = "users", security(("user" = [])), request_body = UpdateMeRequest,
    responses((status = 200, body = User), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 413, description = "`payload_too_large`", body = ErrorResponse), (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)),
)]
pub async fn update_me(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    JsonBody(body): JsonBody<UpdateMeRequest>,
) -> Result<Json<User>, ApiError> {
    let name = body.try_into_domain()?;
    state.limits.user(Limit::WritesPerUser, caller).await?;
    Ok(Json(state.users.rename(caller, &name).await?))
}

#[utoipa::path(get, path = "/users/{id}", tag = "users", security(("user" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 200, body = User), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)),
)]
pub async fn get(
    State(state): State<AppState>,
    AuthUser(_): AuthUser,
    ApiPath(id): ApiPath<UserId>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(state.users.get(id).await?))
}

/// `PUT /users/me/password`: changes the password and ends the caller's other logins.
#[utoipa::path(put, path = "/users/me/password", tag = "users", security(("user" = [])),
    request_body = ChangePasswordRequest, responses(
    (status = 204, description = "changed; the caller's other logins are ended"), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse),
    (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse),
    (status = 403, description = "`forbidden`: the current password is wrong", body = ErrorResponse),
    (status = 413, description = "`payload_too_large`", body = ErrorResponse), (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse),
))]
pub async fn change_password(
    State(state): State<AppState>,
    AuthLogin { user, login }: AuthLogin,
    ClientIp(client): ClientIp,
    JsonBody(body): JsonBody<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let (current, new) = body.try_into_domain()?;
    // A wrong current password is a guess like a failed login, and counts as one of the user's.
    let username = state.users.me(user).await?.username;
    let change = state.auth.change_password(user, login, current, &new);
    state.limits.password_attempt(client, username.as_str(), change).await?;
    Ok(StatusCode::NO_CONTENT)
}
