//! `/rooms/{id}/messages/{message}/reactions/{emoji}`: adding and removing the caller's
//! reaction over REST.

use axum::Json;
use axum::extract::State;
use chat_shared::domain::{Emoji, Message, RoomId};
use chat_shared::usecases::Limit;

use super::extract::{ApiPath, AuthUser};
use super::message_changes::message_ref;
use crate::error::ApiError;
use crate::state::AppState;

pub async fn add(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath((room, message, emoji)): ApiPath<(RoomId, String, String)>,
) -> Result<Json<Message>, ApiError> {
    react(state, caller, room, &message, &emoji, true).await
}

pub async fn remove(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath((room, message, emoji)): ApiPath<(RoomId, String, String)>,
) -> Result<Json<Message>, ApiError> {
    react(state, caller, room, &message, &emoji, false).await
}

async fn react(
    state: AppState,
    caller: chat_shared::domain::UserId,
    room: RoomId,
    message: &str,
    emoji: &str,
    add: bool,
) -> Result<Json<Message>, ApiError> {
    let target = message_ref(message)?;
    let emoji = Emoji::parse(emoji).map_err(|reason| ApiError::invalid_field("emoji", reason.to_string()))?;
    state.limits.user(Limit::SendsPerUser, caller).await?;
    Ok(Json(state.messages.react(caller, room, target, emoji, add).await?.message))
}
