//! `/rooms/{id}/messages/{message}/reactions/{emoji}`: adding and removing the caller's
//! reaction over REST.

use axum::Json;
use axum::extract::State;
use chat_shared::domain::{Emoji, Message, RoomId};
use chat_shared::usecases::Limit;

use super::extract::{ApiPath, AuthUser};
use super::message_changes::message_ref;
use crate::error::{ApiError, ErrorResponse};
use crate::state::AppState;

#[utoipa::path(put, path = "/rooms/{id}/messages/{message}/reactions/{emoji}", tag = "messages", security(("user" = [])),
    params(("id" = uuid::Uuid, Path, description = "The room"), ("message" = String, Path, pattern = "^([0-9]{1,19}|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$", description = "The message's id (UUID) or its seq in the room"), ("emoji" = String, Path, max_length = 4, pattern = "^[!-~\\u00A1-\\u00AC\\u00AE-\\u034E\\u0350-\\u061B\\u061D-\\u115E\\u1161-\\u167F\\u1681-\\u17B3\\u17B6-\\u180A\\u1810-\\u1FFF\\u2010-\\u2027\\u2030-\\u205E\\u2070-\\u2FFF\\u3001-\\u3163\\u3165-\\uD7FF\\uE000-\\uFDFF\\uFE10-\\uFEFE\\uFF00-\\uFF9F\\uFFA1-\\uFFEF][^\\s\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$", description = "1 to 4 symbols without white space, percent-encoded")),
    responses((status = 200, description = "the message with its reactions", body = Message), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: not allowed to the caller here", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)))]
pub async fn add(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath((room, message, emoji)): ApiPath<(RoomId, String, String)>,
) -> Result<Json<Message>, ApiError> {
    react(state, caller, room, &message, &emoji, true).await
}

#[utoipa::path(delete, path = "/rooms/{id}/messages/{message}/reactions/{emoji}", tag = "messages", security(("user" = [])),
    params(("id" = uuid::Uuid, Path, description = "The room"), ("message" = String, Path, pattern = "^([0-9]{1,19}|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$", description = "The message's id (UUID) or its seq in the room"), ("emoji" = String, Path, max_length = 4, pattern = "^[!-~\\u00A1-\\u00AC\\u00AE-\\u034E\\u0350-\\u061B\\u061D-\\u115E\\u1161-\\u167F\\u1681-\\u17B3\\u17B6-\\u180A\\u1810-\\u1FFF\\u2010-\\u2027\\u2030-\\u205E\\u2070-\\u2FFF\\u3001-\\u3163\\u3165-\\uD7FF\\uE000-\\uFDFF\\uFE10-\\uFEFE\\uFF00-\\uFF9F\\uFFA1-\\uFFEF][^\\s\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$", description = "1 to 4 symbols without white space, percent-encoded")),
    responses((status = 200, description = "the message with its reactions", body = Message), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: not allowed to the caller here", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)))]
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
