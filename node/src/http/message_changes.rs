//! `/rooms/{id}/messages/{message}`: editing and deleting a message over REST.

use axum::Json;
use axum::extract::State;
use chat_shared::domain::{ClientMsgId, Content, Message, MessageId, Metadata, RoomId, Seq};
use chat_shared::error::FieldErrors;
use chat_shared::ports::MessageRef;
use chat_shared::usecases::{Limit, MessageEdit};
use serde::Deserialize;

use super::extract::{ApiPath, AuthUser, JsonBody};
use super::fields::{reject_invalid, required};
use crate::error::{ApiError, ErrorResponse};
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct EditRequest {
    /// The new content, as a message's: 1 to 4,000 characters, not only white space, no NUL.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 4000, pattern = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$")]
    content: Option<String>,
    /// `null` or absent keeps the message's metadata.
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
    /// 1 to 64 characters without control characters: a repeated edit with the same one is
    /// applied once.
    #[schema(required = false, nullable, value_type = String, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    client_change_id: Option<String>,
}

impl EditRequest {
    pub fn try_into_domain(self) -> Result<MessageEdit, ApiError> {
        let mut fields = FieldErrors::default();
        let content = required(&mut fields, "content", &self.content)
            .and_then(|raw| fields.check("content", Content::parse(raw)));
        let metadata = match self.metadata {
            None | Some(serde_json::Value::Null) => Some(None),
            Some(raw) => fields.check("metadata", Metadata::parse(Some(raw))).map(Some),
        };
        let client_change_id = match self.client_change_id.as_deref() {
            Some(raw) => fields.check("client_change_id", ClientMsgId::parse(raw)).map(Some),
            None => Some(None),
        };
        reject_invalid(fields)?;
        match (content, metadata, client_change_id) {
            (Some(content), Some(metadata), Some(client_change_id)) => {
                Ok(MessageEdit { content, metadata, client_change_id })
            }
            _ => Err(ApiError::Internal),
        }
    }
}

/// The `{message}` of a path: the message's id, or its seq in the room.
pub(super) fn message_ref(raw: &str) -> Result<MessageRef, ApiError> {
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw
            .parse::<Seq>()
            .map(MessageRef::Seq)
            .map_err(|_| ApiError::invalid_field("message", "is not a seq this server can hold"));
    }
    raw.parse::<MessageId>()
        .map(MessageRef::Id)
        .map_err(|_| ApiError::invalid_field("message", "must be a message id (UUID) or seq"))
}

#[utoipa::path(patch, path = "/rooms/{id}/messages/{message}", tag = "messages", security(("user" = [])), params(("id" = uuid::Uuid, Path, description = "The room"), ("message" = String, Path, pattern = "^([0-9]{1,19}|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$", description = "The message's id (UUID) or its seq in the room")),
    request_body = EditRequest, responses((status = 200, description = "the message as edited", body = Message), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: not allowed to the caller here", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 413, description = "`payload_too_large`", body = ErrorResponse), (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)))]
pub async fn edit(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath((room, message)): ApiPath<(RoomId, String)>,
    JsonBody(body): JsonBody<EditRequest>,
) -> Result<Json<Message>, ApiError> {
    let target = message_ref(&message)?;
    let edit = body.try_into_domain()?;
    state.limits.user(Limit::SendsPerUser, caller).await?;
    Ok(Json(state.messages.edit(caller, room, target, edit).await?.message))
}

#[utoipa::path(delete, path = "/rooms/{id}/messages/{message}", tag = "messages", security(("user" = [])), params(("id" = uuid::Uuid, Path, description = "The room"), ("message" = String, Path, pattern = "^([0-9]{1,19}|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$", description = "The message's id (UUID) or its seq in the room")),
    responses((status = 200, description = "the tombstone", body = Message), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: not allowed to the caller here", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)))]
pub async fn delete(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath((room, message)): ApiPath<(RoomId, String)>,
) -> Result<Json<Message>, ApiError> {
    let target = message_ref(&message)?;
    state.limits.user(Limit::SendsPerUser, caller).await?;
    Ok(Json(state.messages.delete(caller, room, target, None).await?.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_names_a_message_by_id_or_seq() {
        let id = MessageId::generate();
        assert_eq!(message_ref(&id.to_string()).unwrap(), MessageRef::Id(id));
        assert_eq!(message_ref("42").unwrap(), MessageRef::Seq(42));
        for bad in ["", "-1", "4.2", "99999999999999999999999", "not-an-id", "42 "] {
            assert!(matches!(message_ref(bad), Err(ApiError::InvalidInput { .. })), "{bad:?}");
        }
    }
}
