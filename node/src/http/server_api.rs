//! `/server/`: what an application backend does with an API key, acting as one of its users
//! with exactly that user's rights. Bodies and answers are those of the user routes; the
//! user's abuse limits do not count these calls.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chat_shared::domain::{RoomId, Scope, UserId};
use chat_shared::usecases::{Online, Sent, require_scope};

use super::extract::{ApiKeyCaller, ApiPath, JsonBody};
use super::messages::SendRequest;
use super::rooms::{AddMemberRequest, CreateRoomRequest, add_member_as, create_as};
use crate::error::ApiError;
use crate::state::AppState;

pub async fn send(
    State(state): State<AppState>,
    ApiKeyCaller(key): ApiKeyCaller,
    ApiPath((user, room)): ApiPath<(UserId, RoomId)>,
    JsonBody(body): JsonBody<SendRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let sender = state.admin.act_as(&key, Scope::MessagesPublish, user).await?;
    let request = body.try_into_domain(room)?;
    let Sent { message, duplicate } = state.messages.send(sender, request).await?;
    let status = if duplicate { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(message)))
}

/// A message from the system (`sender_id` the nil UUID) in any room.
pub async fn send_as_system(
    State(state): State<AppState>,
    ApiKeyCaller(key): ApiKeyCaller,
    ApiPath(room): ApiPath<RoomId>,
    JsonBody(body): JsonBody<SendRequest>,
) -> Result<impl IntoResponse, ApiError> {
    require_scope(&key, Scope::MessagesPublish)?;
    let request = body.try_into_domain(room)?;
    let Sent { message, duplicate } = state.messages.send_as_system(request).await?;
    let status = if duplicate { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(message)))
}

pub async fn create_room(
    State(state): State<AppState>,
    ApiKeyCaller(key): ApiKeyCaller,
    ApiPath(user): ApiPath<UserId>,
    JsonBody(body): JsonBody<CreateRoomRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let owner = state.admin.act_as(&key, Scope::RoomsWrite, user).await?;
    create_as(&state, owner, body.try_into_domain()?).await
}

pub async fn add_member(
    State(state): State<AppState>,
    ApiKeyCaller(key): ApiKeyCaller,
    ApiPath((user, room)): ApiPath<(UserId, RoomId)>,
    JsonBody(body): JsonBody<AddMemberRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let actor = state.admin.act_as(&key, Scope::RoomsWrite, user).await?;
    add_member_as(&state, actor, room, body.try_into_domain()?).await
}

pub async fn presence(
    State(state): State<AppState>,
    ApiKeyCaller(key): ApiKeyCaller,
    ApiPath((user, room)): ApiPath<(UserId, RoomId)>,
) -> Result<Json<Online>, ApiError> {
    let reader = state.admin.act_as(&key, Scope::UsersRead, user).await?;
    state.rooms.get(reader, room).await?;
    Ok(Json(state.presence.online(room).await))
}
