//! `/rooms/*`: rooms, membership and read markers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chat_shared::domain::{
    Participant, Role, Room, RoomId, RoomName, RoomSummary, RoomType, Seq, UserId, Username,
};
use chat_shared::error::{Error, FieldErrors};
use chat_shared::usecases::{
    Limit, MAX_RESOLVED_USERNAMES, MemberAdded, NewRoom, Online, ResolveError, RoomCreated,
};
use serde::{Deserialize, Serialize};

use super::extract::{ApiPath, AuthUser, JsonBody};
use super::fields::{reject_invalid, required, whole_number};
use crate::error::{ApiError, ErrorResponse};
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateRoomRequest {
    /// 1 to 100 characters, something visible, no control characters or bidirectional
    /// overrides; required except for a direct room.
    #[schema(required = false, nullable, value_type = String, min_length = 1, max_length = 100, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*[!-~\\u00A1-\\u00AC\\u00AE-\\u034E\\u0350-\\u061B\\u061D-\\u115E\\u1161-\\u167F\\u1681-\\u17B3\\u17B6-\\u180A\\u1810-\\u1FFF\\u2010-\\u2027\\u2030-\\u205E\\u2070-\\u2FFF\\u3001-\\u3163\\u3165-\\uD7FF\\uE000-\\uFDFF\\uFE10-\\uFEFE\\uFF00-\\uFF9F\\uFFA1-\\uFFEF][^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$")]
    name: Option<String>,
    /// `direct`, `group` or `channel`.
    #[serde(rename = "type")]
    #[schema(required = true, value_type = String, pattern = "^(direct|group|channel)$")]
    room_type: Option<String>,
    #[schema(required = false, nullable, value_type = Vec<uuid::Uuid>)]
    member_ids: Option<Vec<String>>,
    #[schema(required = false, nullable, value_type = Vec<String>)]
    member_usernames: Option<Vec<String>>,
}

/// A room to create, and the members named by username, whose ids are still to be looked up.
#[derive(Debug)]
pub struct RoomRequest {
    pub room: NewRoom,
    pub member_usernames: Vec<Username>,
}

impl CreateRoomRequest {
    pub fn try_into_domain(self) -> Result<RoomRequest, ApiError> {
        let mut fields = FieldErrors::default();
        let name = self.name.as_deref().and_then(|raw| fields.check("name", RoomName::parse(raw)));
        let room_type = required(&mut fields, "type", &self.room_type)
            .and_then(|raw| fields.check("type", raw.parse::<RoomType>()));
        let mut member_ids = Vec::new();
        for raw in self.member_ids.unwrap_or_default() {
            match raw.parse::<UserId>() {
                Ok(id) => member_ids.push(id),
                Err(_) => fields.add("member_ids", format!("{raw:?} is not a user id")),
            }
        }
        let raw_usernames = self.member_usernames.unwrap_or_default();
        if raw_usernames.len() > MAX_RESOLVED_USERNAMES {
            fields.add("member_usernames", format!("at most {MAX_RESOLVED_USERNAMES} members"));
        }
        let mut member_usernames = Vec::with_capacity(raw_usernames.len().min(MAX_RESOLVED_USERNAMES));
        for raw in raw_usernames.iter().take(MAX_RESOLVED_USERNAMES) {
            match Username::parse(raw) {
                Ok(name) => member_usernames.push(name),
                Err(_) => fields.add("member_usernames", format!("no user named {raw:?}")),
            }
        }
        reject_invalid(fields)?;
        let room_type = room_type.ok_or(ApiError::Internal)?;
        Ok(RoomRequest { room: NewRoom { name, room_type, member_ids }, member_usernames })
    }
}

/// Exactly one of `user_id` and `username`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct AddMemberRequest {
    #[schema(required = false, nullable, value_type = uuid::Uuid, pattern = "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")]
    user_id: Option<String>,
    /// 3 to 32 of `a-z A-Z 0-9 _ . -`.
    #[schema(required = false, nullable, value_type = String, pattern = "^[A-Za-z0-9_.-]{3,32}$")]
    username: Option<String>,
    /// `member` (unless given) or `admin`.
    #[schema(required = false, nullable, value_type = String, pattern = "^(member|admin)$")]
    role: Option<String>,
}

/// Who to add to a room: by id, or by username still to be looked up.
#[derive(Debug)]
pub enum NewMember {
    Id(UserId),
    Username(Username),
}

impl AddMemberRequest {
    /// The user to add (by `user_id` or by `username`, exactly one), and the role to give them
    /// (`member` when none is named).
    pub fn try_into_domain(self) -> Result<(NewMember, Role), ApiError> {
        let mut fields = FieldErrors::default();
        let target = match (self.user_id.as_deref(), self.username.as_deref()) {
            (Some(raw), None) => fields.check("user_id", raw.parse::<UserId>()).map(NewMember::Id),
            (None, Some(raw)) => fields.check("username", Username::parse(raw)).map(NewMember::Username),
            (both, _) => {
                let why = if both.is_some() { "give user_id or username, not both" } else { "is required" };
                fields.add("user_id", why);
                fields.add("username", why);
                None
            }
        };
        let role = match self.role.as_deref() {
            None | Some("member") => Some(Role::Member),
            Some("admin") => Some(Role::Admin),
            Some(_) => {
                fields.add("role", "must be member or admin");
                None
            }
        };
        reject_invalid(fields)?;
        target.zip(role).ok_or(ApiError::Internal)
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ReadRequest {
    /// The seq read up to; a marker only moves forward.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(required = true, value_type = u64)]
    seq: Option<u64>,
}

impl ReadRequest {
    pub fn seq(&self) -> Result<Seq, ApiError> {
        self.seq.ok_or_else(|| ApiError::invalid_field("seq", "is required"))
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RoomList {
    rooms: Vec<RoomSummary>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MemberList {
    members: Vec<Participant>,
}

#[utoipa::path(post, path = "/rooms", tag = "rooms", security(("user" = [])), request_body = CreateRoomRequest, responses(
    (status = 201, body = Room), (status = 200, description = "the direct room the pair has already", body = Room),
    (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: not allowed to the caller here", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 413, description = "`payload_too_large`", body = ErrorResponse), (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse),
))]
pub async fn create(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    JsonBody(body): JsonBody<CreateRoomRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let request = body.try_into_domain()?;
    state.limits.user(Limit::WritesPerUser, caller).await?;
    create_as(&state, caller, request).await
}

/// Creates the room `caller` asked for, members named by username included: `201`, or `200`
/// with the direct room the pair has already.
pub(super) async fn create_as(
    state: &AppState,
    caller: UserId,
    RoomRequest { room: mut request, member_usernames }: RoomRequest,
) -> Result<(StatusCode, Json<Room>), ApiError> {
    match state.users.resolve_usernames(&member_usernames).await {
        Ok(ids) => request.member_ids.extend(ids),
        Err(unknown @ ResolveError::Unknown(_)) => {
            return Err(ApiError::invalid_field("member_usernames", unknown.to_string()));
        }
        Err(ResolveError::Failed(err)) => return Err(err.into()),
    }
    let RoomCreated { room, created } = state.rooms.create(caller, request).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(room)))
}

#[utoipa::path(get, path = "/rooms", tag = "rooms", security(("user" = [])), responses(
    (status = 200, description = "the caller's rooms with their read markers and unread counts", body = RoomList),
    (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse),
))]
pub async fn list_mine(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<Json<RoomList>, ApiError> {
    Ok(Json(RoomList { rooms: state.rooms.list_mine(caller).await? }))
}

#[utoipa::path(get, path = "/rooms/{id}", tag = "rooms", security(("user" = [])), params(("id" = uuid::Uuid, Path, description = "The room")),
    responses((status = 200, body = Room), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: not allowed to the caller here", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)))]
pub async fn get(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath(id): ApiPath<RoomId>,
) -> Result<Json<Room>, ApiError> {
    Ok(Json(state.rooms.get(caller, id).await?))
}

#[utoipa::path(get, path = "/rooms/{id}/members", tag = "rooms", security(("user" = [])), params(("id" = uuid::Uuid, Path, description = "The room")),
    responses((status = 200, body = MemberList), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: not allowed to the caller here", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)))]
pub async fn members(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath(id): ApiPath<RoomId>,
) -> Result<Json<MemberList>, ApiError> {
    Ok(Json(MemberList { members: state.rooms.members(caller, id).await? }))
}

#[utoipa::path(post, path = "/rooms/{id}/members", tag = "rooms", security(("user" = [])), params(("id" = uuid::Uuid, Path, description = "The room")),
    request_body = AddMemberRequest, responses(
    (status = 201, body = Participant), (status = 200, description = "they were a member already", body = Participant), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: not allowed to the caller here", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 413, description = "`payload_too_large`", body = ErrorResponse), (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse),
))]
pub async fn add_member(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath(id): ApiPath<RoomId>,
    JsonBody(body): JsonBody<AddMemberRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let member = body.try_into_domain()?;
    state.limits.user(Limit::WritesPerUser, caller).await?;
    add_member_as(&state, caller, id, member).await
}

/// Adds the member `caller` named, by id or username: `201`, or `200` when they were one.
pub(super) async fn add_member_as(
    state: &AppState,
    caller: UserId,
    id: RoomId,
    (target, role): (NewMember, Role),
) -> Result<(StatusCode, Json<Participant>), ApiError> {
    let target = match target {
        NewMember::Id(id) => id,
        NewMember::Username(name) => match state.users.resolve_usernames(std::slice::from_ref(&name)).await {
            Ok(ids) => ids.first().copied().ok_or(ApiError::Internal)?,
            // As for an unknown user id.
            Err(ResolveError::Unknown(_)) => return Err(Error::NotFound("user").into()),
            Err(ResolveError::Failed(err)) => return Err(err.into()),
        },
    };
    let MemberAdded { participant, added } = state.rooms.add_member(caller, id, target, role).await?;
    let status = if added { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(participant)))
}

#[utoipa::path(delete, path = "/rooms/{id}/members/{user_id}", tag = "rooms", security(("user" = [])), params(("id" = uuid::Uuid, Path, description = "The room"), ("user_id" = uuid::Uuid, Path, description = "The member")),
    responses((status = 204, description = "removed (or left, when it is the caller)"), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: not allowed to the caller here", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)))]
pub async fn remove_member(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath((id, target)): ApiPath<(RoomId, UserId)>,
) -> Result<StatusCode, ApiError> {
    state.limits.user(Limit::WritesPerUser, caller).await?;
    state.rooms.remove_member(caller, id, target).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/rooms/{id}/read", tag = "rooms", security(("user" = [])), params(("id" = uuid::Uuid, Path, description = "The room")), request_body = ReadRequest,
    responses((status = 204, description = "the marker is at `seq` or beyond"), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: not allowed to the caller here", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 413, description = "`payload_too_large`", body = ErrorResponse), (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)))]
pub async fn mark_read(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath(id): ApiPath<RoomId>,
    JsonBody(body): JsonBody<ReadRequest>,
) -> Result<StatusCode, ApiError> {
    let seq = body.seq()?;
    state.messages.mark_read(caller, id, seq, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/rooms/{id}/presence", tag = "rooms", security(("user" = [])), params(("id" = uuid::Uuid, Path, description = "The room")),
    responses((status = 200, body = Online), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: not allowed to the caller here", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)))]
pub async fn presence(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath(id): ApiPath<RoomId>,
) -> Result<Json<Online>, ApiError> {
    state.rooms.get(caller, id).await?;
    Ok(Json(state.presence.online(id).await))
}
