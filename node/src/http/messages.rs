//! `/rooms/{id}/messages`: history and sending over REST.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chat_shared::domain::{ClientMsgId, Content, Message, MessageId, MessageKind, Metadata, RoomId, Seq};
use chat_shared::error::FieldErrors;
use chat_shared::ports::PageQuery;
use chat_shared::usecases::{DEFAULT_PAGE, Limit, MAX_PAGE, NewMessage, Sent};
use serde::{Deserialize, Serialize};

use super::extract::{ApiPath, AuthUser, JsonBody};
use super::fields::{reject_invalid, required};
use crate::error::{ApiError, ErrorResponse};
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SendRequest {
    /// 1 to 4,000 characters, not only white space, no NUL.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 4000, pattern = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$")]
    content: Option<String>,
    /// 1 to 64 characters without control characters: the room's sends with the same one are
    /// stored once.
    #[schema(required = false, nullable, value_type = String, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    client_msg_id: Option<String>,
    /// 1 to 32 of `a-z 0-9 _ . -`; `text` unless given.
    #[schema(required = false, nullable, value_type = String, min_length = 1, max_length = 32, pattern = "^[a-z0-9_.-]*$")]
    kind: Option<String>,
    /// A JSON object of at most 4 KiB, or null.
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
    /// The client's first try with this `client_msg_id`.
    #[schema(required = false, nullable, value_type = bool)]
    first_attempt: Option<bool>,
    /// The id of the message of the same room this one answers.
    #[schema(required = false, nullable, value_type = uuid::Uuid, pattern = "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")]
    reply_to: Option<String>,
}

impl SendRequest {
    pub fn try_into_domain(self, room: RoomId) -> Result<NewMessage, ApiError> {
        let mut fields = FieldErrors::default();
        let content = required(&mut fields, "content", &self.content)
            .and_then(|raw| fields.check("content", Content::parse(raw)));
        let kind = match self.kind.as_deref() {
            Some(raw) => fields.check("kind", MessageKind::parse(raw)),
            None => Some(MessageKind::text()),
        };
        let client_msg_id = match self.client_msg_id.as_deref() {
            Some(raw) => fields.check("client_msg_id", ClientMsgId::parse(raw)).map(Some),
            None => Some(None),
        };
        let metadata = fields.check("metadata", Metadata::parse(self.metadata));
        let reply_to = match self.reply_to.as_deref() {
            Some(raw) => fields.check("reply_to", raw.parse::<MessageId>()).map(Some),
            None => Some(None),
        };
        reject_invalid(fields)?;
        match (content, kind, client_msg_id, metadata, reply_to) {
            (Some(content), Some(kind), Some(client_msg_id), Some(metadata), Some(reply_to)) => {
                let first_attempt = self.first_attempt.unwrap_or(false);
                Ok(NewMessage { room, content, kind, metadata, client_msg_id, first_attempt, reply_to })
            }
            _ => Err(ApiError::Internal),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PageResponse {
    pub(super) messages: Vec<Message>,
    pub(super) has_more: bool,
}

/// Reads `before`, `after` and `limit` from a query string, naming what is malformed.
pub fn page_query(params: &HashMap<String, String>) -> Result<PageQuery, ApiError> {
    let mut fields = FieldErrors::default();
    let mut seq = |name: &str| -> Option<Seq> {
        let raw = params.get(name)?;
        fields.check(name, raw.parse::<Seq>().map_err(|_| "must be a non-negative integer".to_owned()))
    };
    let before = seq("before");
    let after = seq("after");
    let limit = page_limit(&mut fields, params);
    reject_invalid(fields)?;
    Ok(PageQuery { before, after, limit: limit.unwrap_or(DEFAULT_PAGE) })
}

/// A page's `limit`: 1–200, 50 when absent; `None` (and a field error) when malformed.
pub(super) fn page_limit(fields: &mut FieldErrors, params: &HashMap<String, String>) -> Option<usize> {
    match params.get("limit") {
        None => Some(DEFAULT_PAGE),
        Some(raw) => fields.check(
            "limit",
            raw.parse::<usize>()
                .ok()
                .filter(|l| (1..=MAX_PAGE).contains(l))
                .ok_or_else(|| format!("must be 1 to {MAX_PAGE}")),
        ),
    }
}

#[utoipa::path(get, path = "/rooms/{id}/messages", tag = "messages", security(("user" = [])), params(("id" = uuid::Uuid, Path, description = "The room"),
    ("before" = Option<u64>, Query, format = "uint64", maximum = 18446744073709551615_usize, description = "Messages below this seq (the newest page without it)"),
    ("after" = Option<u64>, Query, format = "uint64", maximum = 18446744073709551615_usize, description = "Messages above this seq, read forward"),
    ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "50 unless given"),
), responses((status = 200, description = "ascending by seq", body = PageResponse), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: not allowed to the caller here", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)))]
pub async fn history(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath(room): ApiPath<RoomId>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<PageResponse>, ApiError> {
    let page = state.messages.history(caller, room, page_query(&params)?).await?;
    Ok(Json(PageResponse { messages: page.messages, has_more: page.has_more }))
}

#[utoipa::path(post, path = "/rooms/{id}/messages", tag = "messages", security(("user" = [])), params(("id" = uuid::Uuid, Path, description = "The room")), request_body = SendRequest,
    responses((status = 201, description = "durable: stored in the stream", body = Message),
        (status = 200, description = "the original of a repeated `client_msg_id`", body = Message), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: not allowed to the caller here", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 413, description = "`payload_too_large`", body = ErrorResponse), (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)))]
pub async fn send(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath(room): ApiPath<RoomId>,
    JsonBody(body): JsonBody<SendRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let request = body.try_into_domain(room)?;
    state.limits.user(Limit::SendsPerUser, caller).await?;
    Ok(sent_answer(state.messages.send(caller, request).await?))
}

/// A send's answer: `201` with the message, or `200` with the original of a repeated
/// `client_msg_id`.
pub(super) fn sent_answer(Sent { message, duplicate }: Sent) -> (StatusCode, Json<Message>) {
    let status = if duplicate { StatusCode::OK } else { StatusCode::CREATED };
    (status, Json(message))
}
