//! `GET /users?query=`: the user directory, so people find each other by name rather than by id.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use chat_shared::domain::{DirectoryCursor, SearchPrefix, User};
use chat_shared::error::FieldErrors;
use chat_shared::usecases::{DEFAULT_DIRECTORY_PAGE, DirectoryPage, Limit, MAX_DIRECTORY_PAGE};
use serde::Serialize;

use super::extract::AuthUser;
use super::fields::reject_invalid;
use crate::error::{ApiError, ErrorResponse};
use crate::state::AppState;

/// A directory search as the query string gives it, every malformed parameter named. The
/// administrators' listing of users reads the same parameters.
pub(super) struct Search {
    pub(super) prefix: SearchPrefix,
    pub(super) after: Option<DirectoryCursor>,
    pub(super) limit: usize,
}

impl Search {
    pub(super) fn parse(params: &HashMap<String, String>) -> Result<Self, ApiError> {
        let mut fields = FieldErrors::default();
        let prefix = match params.get("query") {
            Some(raw) => fields.check("query", SearchPrefix::parse(raw)),
            None => {
                fields.add("query", "is required");
                None
            }
        };
        let after = match params.get("after") {
            Some(raw) => fields.check("after", DirectoryCursor::parse(raw)).map(Some),
            None => Some(None),
        };
        let limit = match params.get("limit") {
            None => Some(DEFAULT_DIRECTORY_PAGE),
            Some(raw) => fields.check(
                "limit",
                raw.parse::<usize>()
                    .ok()
                    .filter(|limit| (1..=MAX_DIRECTORY_PAGE).contains(limit))
                    .ok_or_else(|| format!("must be 1 to {MAX_DIRECTORY_PAGE}")),
            ),
        };
        reject_invalid(fields)?;
        match (prefix, after, limit) {
            (Some(prefix), Some(after), Some(limit)) => Ok(Self { prefix, after, limit }),
            _ => Err(ApiError::Internal),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DirectoryResponse {
    users: Vec<User>,
    /// The `after` of the next page; `null` on the last.
    next: Option<String>,
}

impl From<DirectoryPage> for DirectoryResponse {
    fn from(page: DirectoryPage) -> Self {
        let next = page.next.map(|cursor| cursor.as_str().to_owned());
        Self { users: page.users, next }
    }
}

#[utoipa::path(get, path = "/users", tag = "users", security(("user" = [])), params(
    ("query" = String, Query, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$", description = "A prefix of usernames or display names, 1 to 64 characters without control characters"),
    ("after" = Option<String>, Query, min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9_.-]*$", description = "The `next` of the previous page"),
    ("limit" = Option<u32>, Query, minimum = 1, maximum = 50, description = "20 unless given"),
), responses((status = 200, body = DirectoryResponse), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)))]
pub async fn search(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<DirectoryResponse>, ApiError> {
    let Search { prefix, after, limit } = Search::parse(&params)?;
    state.limits.user(Limit::SearchesPerUser, caller).await?;
    Ok(Json(state.users.search(prefix, after, limit).await?.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields_of(query: &[(&str, &str)]) -> Vec<String> {
        let params = query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        match Search::parse(&params) {
            Ok(_) => Vec::new(),
            Err(ApiError::InvalidInput { fields, .. }) => {
                fields.iter().map(|(name, _)| name.to_owned()).collect()
            }
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_malformed_parameter_is_named() {
        assert_eq!(fields_of(&[]), ["query"]);
        assert_eq!(
            fields_of(&[("query", ""), ("limit", "0"), ("after", "a b")]),
            ["after", "limit", "query"]
        );
        assert_eq!(fields_of(&[("query", "ann"), ("limit", "51")]), ["limit"]);
        assert_eq!(fields_of(&[("query", "ann"), ("limit", "x")]), ["limit"]);
        assert_eq!(fields_of(&[("query", "ann\u{0}")]), ["query"]);
        assert!(fields_of(&[("query", "ann"), ("limit", "50"), ("after", "Ann.Lee")]).is_empty());
    }
}
