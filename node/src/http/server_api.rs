//! `/server/`: what an application backend does with an API key, acting as one of its users
//! with exactly that user's rights. Bodies and answers are those of the user routes; the
//! user's abuse limits do not count these calls.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use chat_shared::domain::{Message, Participant, Room, RoomId, Scope, UserId};
use chat_shared::usecases::{Online, require_scope};

use super::extract::{ApiKeyCaller, ApiPath, JsonBody};
use super::messages::{SendRequest, sent_answer};
use super::rooms::{AddMemberRequest, CreateRoomRequest, add_member_as, create_as};
use crate::error::{ApiError, ErrorResponse};
use crate::state::AppState;

#[utoipa::path(post, path = "/server/users/{user_id}/rooms/{room_id}/messages", tag = "server",
    security(("api_key" = ["messages:publish"])), params(("user_id" = uuid::Uuid, Path, description = "The user the key acts as"), ("room_id" = uuid::Uuid, Path, description = "The room")), request_body = SendRequest,
    responses((status = 201, body = Message), (status = 200, description = "the original of a repeated `client_msg_id`", body = Message),
        (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no API key, or an unknown or revoked one", body = ErrorResponse), (status = 403, description = "`forbidden`: the key lacks the scope, the user is disabled, or the user may not do this", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 413, description = "`payload_too_large`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)),
)]
pub async fn send(
    State(state): State<AppState>,
    ApiKeyCaller(key): ApiKeyCaller,
    ApiPath((user, room)): ApiPath<(UserId, RoomId)>,
    JsonBody(body): JsonBody<SendRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let sender = state.admin.act_as(&key, Scope::MessagesPublish, user).await?;
    let request = body.try_into_domain(room)?;
    Ok(sent_answer(state.messages.send(sender, request).await?))
}

/// A message from the system (`sender_id` the nil UUID) in any room.
#[utoipa::path(post, path = "/server/rooms/{room_id}/messages", tag = "server",
    security(("api_key" = ["messages:publish"])), params(("room_id" = uuid::Uuid, Path, description = "The room")),
    request_body = SendRequest,
    responses((status = 201, body = Message), (status = 200, description = "the original of a repeated `client_msg_id`", body = Message),
        (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no API key, or an unknown or revoked one", body = ErrorResponse), (status = 403, description = "`forbidden`: the key lacks the scope", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 413, description = "`payload_too_large`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)),
)]
pub async fn send_as_system(
    State(state): State<AppState>,
    ApiKeyCaller(key): ApiKeyCaller,
    ApiPath(room): ApiPath<RoomId>,
    JsonBody(body): JsonBody<SendRequest>,
) -> Result<impl IntoResponse, ApiError> {
    require_scope(&key, Scope::MessagesPublish)?;
    let request = body.try_into_domain(room)?;
    Ok(sent_answer(state.messages.send_as_system(request).await?))
}

#[utoipa::path(post, path = "/server/users/{user_id}/rooms", tag = "server",
    security(("api_key" = ["rooms:write"])), params(("user_id" = uuid::Uuid, Path, description = "The user the key acts as: the owner")),
    request_body = CreateRoomRequest,
    responses((status = 201, body = Room), (status = 200, description = "the direct room the pair has already", body = Room),
        (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no API key, or an unknown or revoked one", body = ErrorResponse), (status = 403, description = "`forbidden`: the key lacks the scope, the user is disabled, or the user may not do this", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 413, description = "`payload_too_large`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)),
)]
pub async fn create_room(
    State(state): State<AppState>,
    ApiKeyCaller(key): ApiKeyCaller,
    ApiPath(user): ApiPath<UserId>,
    JsonBody(body): JsonBody<CreateRoomRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let owner = state.admin.act_as(&key, Scope::RoomsWrite, user).await?;
    create_as(&state, owner, body.try_into_domain()?).await
}

#[utoipa::path(post, path = "/server/users/{user_id}/rooms/{room_id}/members", tag = "server",
    security(("api_key" = ["rooms:write"])), params(("user_id" = uuid::Uuid, Path, description = "The user the key acts as"), ("room_id" = uuid::Uuid, Path, description = "The room")), request_body = AddMemberRequest,
    responses((status = 201, body = Participant), (status = 200, description = "they were a member already", body = Participant),
        (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no API key, or an unknown or revoked one", body = ErrorResponse), (status = 403, description = "`forbidden`: the key lacks the scope, the user is disabled, or the user may not do this", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 413, description = "`payload_too_large`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)),
)]
pub async fn add_member(
    State(state): State<AppState>,
    ApiKeyCaller(key): ApiKeyCaller,
    ApiPath((user, room)): ApiPath<(UserId, RoomId)>,
    JsonBody(body): JsonBody<AddMemberRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let actor = state.admin.act_as(&key, Scope::RoomsWrite, user).await?;
    add_member_as(&state, actor, room, body.try_into_domain()?).await
}

#[utoipa::path(get, path = "/server/users/{user_id}/rooms/{room_id}/presence", tag = "server",
    security(("api_key" = ["users:read"])), params(("user_id" = uuid::Uuid, Path, description = "The user the key acts as"), ("room_id" = uuid::Uuid, Path, description = "The room")),
    responses((status = 200, body = Online), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no API key, or an unknown or revoked one", body = ErrorResponse), (status = 403, description = "`forbidden`: the key lacks the scope, the user is disabled, or the user may not do this", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)),
)]
pub async fn presence(
    State(state): State<AppState>,
    ApiKeyCaller(key): ApiKeyCaller,
    ApiPath((user, room)): ApiPath<(UserId, RoomId)>,
) -> Result<Json<Online>, ApiError> {
    let reader = state.admin.act_as(&key, Scope::UsersRead, user).await?;
    state.rooms.get(reader, room).await?;
    Ok(Json(state.presence.online(room).await))
}
