//! `/rooms/{id}/messages/{message}/thread`: a page of a message's replies over REST.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use chat_shared::domain::{RoomId, Seq};
use chat_shared::error::FieldErrors;
use chat_shared::usecases::DEFAULT_PAGE;

use super::extract::{ApiPath, AuthUser};
use super::fields::reject_invalid;
use super::message_changes::message_ref;
use super::messages::{PageResponse, page_limit};
use crate::error::{ApiError, ErrorResponse};
use crate::state::AppState;

/// `after` (default 0) and `limit` (default 50) of a thread page, naming what is malformed.
fn thread_query(params: &HashMap<String, String>) -> Result<(Seq, usize), ApiError> {
    let mut fields = FieldErrors::default();
    let after = match params.get("after") {
        None => Some(0),
        Some(raw) => {
            fields.check("after", raw.parse::<Seq>().map_err(|_| "must be a non-negative integer".to_owned()))
        }
    };
    let limit = page_limit(&mut fields, params);
    reject_invalid(fields)?;
    Ok((after.unwrap_or(0), limit.unwrap_or(DEFAULT_PAGE)))
}

#[utoipa::path(get, path = "/rooms/{id}/messages/{message}/thread", tag = "messages", security(("user" = [])), params(("id" = uuid::Uuid, Path, description = "The room"), ("message" = String, Path, pattern = "^([0-9]{1,19}|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$", description = "The message's id (UUID) or its seq in the room"),
    ("after" = Option<u64>, Query, format = "uint64", maximum = 18446744073709551615_usize, description = "Replies above this seq; 0 unless given"),
    ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "50 unless given"),
), responses((status = 200, description = "the direct replies, ascending by seq", body = PageResponse), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: not allowed to the caller here", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)))]
pub async fn thread(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath((room, message)): ApiPath<(RoomId, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<PageResponse>, ApiError> {
    let target = message_ref(&message)?;
    let (after, limit) = thread_query(&params)?;
    let page = state.messages.thread(caller, room, target, after, limit).await?;
    Ok(Json(PageResponse { messages: page.messages, has_more: page.has_more }))
}
