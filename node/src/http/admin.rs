//! `/admin/*`: what administrators of the deployment do: list, disable and enable users,
//! delete a user's messages, read the audit log. Administrators are made from the command line (`chat-node admin grant`).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use chat_shared::domain::{SentCursor, User, UserId};
use chat_shared::error::FieldErrors;
use chat_shared::usecases::{AuditPage, BulkDeletion, DEFAULT_AUDIT_PAGE, DEFAULT_BULK_DELETION};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::directory::{DirectoryResponse, Search};
use super::extract::{ApiPath, AuthUser, JsonBody};
use super::fields::{reject_invalid, whole_number};
use crate::error::{ApiError, ErrorResponse};
use crate::state::AppState;

/// `?before=ID&limit=N`, read as text so that every bad one is named.
fn page_of(params: &HashMap<String, String>) -> Result<(Option<Uuid>, usize), ApiError> {
    let mut fields = FieldErrors::default();
    let before = match params.get("before").map(String::as_str) {
        None => None,
        Some(raw) => match Uuid::parse_str(raw) {
            Ok(id) => Some(id),
            Err(_) => {
                fields.add("before", "must be the id of an entry");
                None
            }
        },
    };
    let limit = match params.get("limit").map(String::as_str) {
        None => DEFAULT_AUDIT_PAGE,
        Some(raw) => raw.parse::<usize>().unwrap_or_else(|_| {
            fields.add("limit", "must be a whole number");
            DEFAULT_AUDIT_PAGE
        }),
    };
    reject_invalid(fields)?;
    Ok((before, limit))
}

#[utoipa::path(get, path = "/admin/audit", tag = "admin", security(("user" = [])), params(
    ("before" = Option<uuid::Uuid>, Query, description = "The `next` of the previous page"),
    ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "50 unless given"),
), responses((status = 200, body = AuditPage), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: administrators only", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)))]
pub async fn audit(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<AuditPage>, ApiError> {
    let (before, limit) = page_of(&params)?;
    Ok(Json(state.admin.audit(caller, before, limit).await?))
}

/// `GET /admin/users?query=&after=&limit=`: as the directory, disabled users included.
#[utoipa::path(get, path = "/admin/users", tag = "admin", security(("user" = [])), params(
    ("query" = String, Query, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$", description = "A prefix of usernames or display names, 1 to 64 characters without control characters"),
    ("after" = Option<String>, Query, min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9_.-]*$", description = "The `next` of the previous page"),
    ("limit" = Option<u32>, Query, minimum = 1, maximum = 50, description = "20 unless given"),
), responses((status = 200, body = DirectoryResponse), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: administrators only", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)))]
pub async fn users(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<DirectoryResponse>, ApiError> {
    let Search { prefix, after, limit } = Search::parse(&params)?;
    Ok(Json(state.admin.users(caller, prefix, after, limit).await?.into()))
}

#[utoipa::path(post, path = "/admin/users/{id}/disable", tag = "admin", security(("user" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 200, description = "disabled: every login of theirs ended", body = User), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse),
        (status = 403, description = "`forbidden`: administrators only, never themselves", body = ErrorResponse),
        (status = 404, description = "`not_found`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)),
)]
pub async fn disable(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath(target): ApiPath<UserId>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(state.admin.disable(caller, target).await?))
}

#[utoipa::path(post, path = "/admin/users/{id}/enable", tag = "admin", security(("user" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 200, body = User), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: administrators only", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)),
)]
pub async fn enable(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath(target): ApiPath<UserId>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(state.admin.enable(caller, target).await?))
}

/// `POST /admin/users/{id}/messages/delete`: `{"after"?, "limit"?}`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct DeleteMessagesRequest {
    /// The `next` of the previous page; absent on the first.
    #[schema(required = false, nullable, value_type = String,
        pattern = "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\\.[0-9]{1,19}$")]
    after: Option<String>,
    /// 1 to 500, 100 unless given.
    #[schema(required = false, nullable, value_type = u32, minimum = 1, maximum = 500)]
    #[serde(default, deserialize_with = "whole_number")]
    limit: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeleteMessagesResponse {
    /// How many this page deleted.
    deleted: u64,
    /// The `after` of the next page; `null` once every message has been seen.
    next: Option<String>,
}

impl From<BulkDeletion> for DeleteMessagesResponse {
    fn from(page: BulkDeletion) -> Self {
        Self { deleted: page.deleted, next: page.next.map(|cursor| cursor.to_string()) }
    }
}

#[utoipa::path(post, path = "/admin/users/{id}/messages/delete", tag = "admin", security(("user" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")), request_body = DeleteMessagesRequest,
    responses((status = 200, body = DeleteMessagesResponse), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: administrators only", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 413, description = "`payload_too_large`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)),
)]
pub async fn delete_messages(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath(target): ApiPath<UserId>,
    JsonBody(body): JsonBody<DeleteMessagesRequest>,
) -> Result<Json<DeleteMessagesResponse>, ApiError> {
    let mut fields = FieldErrors::default();
    let after = body.after.as_deref().and_then(|raw| fields.check("after", SentCursor::parse(raw)));
    reject_invalid(fields)?;
    // Beyond usize is beyond the range the use case refuses anyway.
    let limit =
        body.limit.map_or(DEFAULT_BULK_DELETION, |limit| usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(Json(state.admin.delete_messages(caller, target, after, limit).await?.into()))
}
