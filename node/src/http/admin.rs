//! `/admin/*`: what administrators of the deployment read. Administrators are made from the
//! command line (`chat-node admin grant`).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use chat_shared::error::FieldErrors;
use chat_shared::usecases::{AuditPage, DEFAULT_AUDIT_PAGE};
use uuid::Uuid;

use super::extract::AuthUser;
use super::fields::reject_invalid;
use crate::error::ApiError;
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

pub async fn audit(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<AuditPage>, ApiError> {
    let (before, limit) = page_of(&params)?;
    Ok(Json(state.admin.audit(caller, before, limit).await?))
}
