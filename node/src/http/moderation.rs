//! Room moderation: `/rooms/{id}/bans`, `/rooms/{id}/mutes/{user_id}` and members' roles
//! (`PATCH /rooms/{id}/members/{user_id}`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chat_shared::domain::{Ban, BanReason, Participant, Role, RoomId, UserId};
use chat_shared::error::FieldErrors;
use chat_shared::usecases::{Limit, NewBan};
use serde::{Deserialize, Serialize};

use super::extract::{ApiPath, AuthUser, JsonBody};
use super::fields::{reject_invalid, required, whole_number};
use crate::error::{ApiError, ErrorResponse};
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct BanRequest {
    #[schema(required = true, value_type = uuid::Uuid, pattern = "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")]
    user_id: Option<String>,
    /// 1 to 500 characters, something visible, no control characters or bidirectional overrides.
    #[schema(required = false, nullable, value_type = String, min_length = 1, max_length = 500, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*[!-~\\u00A1-\\u00AC\\u00AE-\\u034E\\u0350-\\u061B\\u061D-\\u115E\\u1161-\\u167F\\u1681-\\u17B3\\u17B6-\\u180A\\u1810-\\u1FFF\\u2010-\\u2027\\u2030-\\u205E\\u2070-\\u2FFF\\u3001-\\u3163\\u3165-\\uD7FF\\uE000-\\uFDFF\\uFE10-\\uFEFE\\uFF00-\\uFF9F\\uFFA1-\\uFFEF][^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$")]
    reason: Option<String>,
    /// Seconds, 1 to 366 days; for good unless given.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(required = false, nullable, value_type = u64, minimum = 1, maximum = 31622400)]
    expires_in: Option<u64>,
}

impl BanRequest {
    pub fn try_into_domain(self) -> Result<(UserId, NewBan), ApiError> {
        let mut fields = FieldErrors::default();
        let target = required(&mut fields, "user_id", &self.user_id)
            .and_then(|raw| fields.check("user_id", raw.parse::<UserId>()));
        let reason = self.reason.as_deref().and_then(|raw| fields.check("reason", BanReason::parse(raw)));
        reject_invalid(fields)?;
        let target = target.ok_or(ApiError::Internal)?;
        Ok((target, NewBan { reason, expires_in: self.expires_in }))
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct MuteRequest {
    /// Seconds, 1 to 366 days.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(required = true, value_type = u64, minimum = 1, maximum = 31622400)]
    expires_in: Option<u64>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RoleRequest {
    /// `member` or `admin`.
    #[schema(required = true, value_type = String, pattern = "^(member|admin)$")]
    role: Option<String>,
}

impl RoleRequest {
    pub fn role(&self) -> Result<Role, ApiError> {
        match self.role.as_deref() {
            Some("member") => Ok(Role::Member),
            Some("admin") => Ok(Role::Admin),
            Some(_) => Err(ApiError::invalid_field("role", "must be member or admin")),
            None => Err(ApiError::invalid_field("role", "is required")),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BanList {
    bans: Vec<Ban>,
}

#[utoipa::path(post, path = "/rooms/{id}/bans", tag = "moderation", security(("user" = [])), params(("id" = uuid::Uuid, Path, description = "The room")), request_body = BanRequest,
    responses((status = 201, body = Ban), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: not allowed to the caller here", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 413, description = "`payload_too_large`", body = ErrorResponse), (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)))]
pub async fn ban(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath(room): ApiPath<RoomId>,
    JsonBody(body): JsonBody<BanRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let (target, request) = body.try_into_domain()?;
    state.limits.user(Limit::WritesPerUser, caller).await?;
    let ban = state.rooms.ban(caller, room, target, request).await?;
    Ok((StatusCode::CREATED, Json(ban)))
}

#[utoipa::path(get, path = "/rooms/{id}/bans", tag = "moderation", security(("user" = [])), params(("id" = uuid::Uuid, Path, description = "The room")),
    responses((status = 200, description = "the bans that hold, newest first", body = BanList), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: not allowed to the caller here", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)))]
pub async fn bans(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath(room): ApiPath<RoomId>,
) -> Result<Json<BanList>, ApiError> {
    Ok(Json(BanList { bans: state.rooms.bans(caller, room).await? }))
}

#[utoipa::path(delete, path = "/rooms/{id}/bans/{user_id}", tag = "moderation", security(("user" = [])), params(("id" = uuid::Uuid, Path, description = "The room"), ("user_id" = uuid::Uuid, Path, description = "The member")),
    responses((status = 204, description = "the ban is lifted"), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: not allowed to the caller here", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)))]
pub async fn unban(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath((room, target)): ApiPath<(RoomId, UserId)>,
) -> Result<StatusCode, ApiError> {
    state.limits.user(Limit::WritesPerUser, caller).await?;
    state.rooms.unban(caller, room, target).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/rooms/{id}/mutes/{user_id}", tag = "moderation", security(("user" = [])), params(("id" = uuid::Uuid, Path, description = "The room"), ("user_id" = uuid::Uuid, Path, description = "The member")),
    request_body = MuteRequest, responses((status = 200, body = Participant), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: not allowed to the caller here", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 413, description = "`payload_too_large`", body = ErrorResponse), (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)))]
pub async fn mute(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath((room, target)): ApiPath<(RoomId, UserId)>,
    JsonBody(body): JsonBody<MuteRequest>,
) -> Result<Json<Participant>, ApiError> {
    let secs = body.expires_in.ok_or_else(|| ApiError::invalid_field("expires_in", "is required"))?;
    state.limits.user(Limit::WritesPerUser, caller).await?;
    Ok(Json(state.rooms.mute(caller, room, target, secs).await?))
}

#[utoipa::path(delete, path = "/rooms/{id}/mutes/{user_id}", tag = "moderation", security(("user" = [])), params(("id" = uuid::Uuid, Path, description = "The room"), ("user_id" = uuid::Uuid, Path, description = "The member")),
    responses((status = 200, body = Participant), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: not allowed to the caller here", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)))]
pub async fn unmute(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath((room, target)): ApiPath<(RoomId, UserId)>,
) -> Result<Json<Participant>, ApiError> {
    state.limits.user(Limit::WritesPerUser, caller).await?;
    Ok(Json(state.rooms.unmute(caller, room, target).await?))
}

#[utoipa::path(patch, path = "/rooms/{id}/members/{user_id}", tag = "moderation", security(("user" = [])), params(("id" = uuid::Uuid, Path, description = "The room"), ("user_id" = uuid::Uuid, Path, description = "The member")),
    request_body = RoleRequest, responses((status = 200, body = Participant), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: not allowed to the caller here", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 413, description = "`payload_too_large`", body = ErrorResponse), (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)))]
pub async fn change_role(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath((room, target)): ApiPath<(RoomId, UserId)>,
    JsonBody(body): JsonBody<RoleRequest>,
) -> Result<Json<Participant>, ApiError> {
    let role = body.role()?;
    state.limits.user(Limit::WritesPerUser, caller).await?;
    Ok(Json(state.rooms.change_role(caller, room, target, role).await?))
}
