//! `/admin/api-keys`: administrators make, list and revoke the API keys of application
//! backends.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chat_shared::domain::{ApiKey, ApiKeyId, ApiKeyName, Scope};
use chat_shared::error::FieldErrors;
use serde::{Deserialize, Serialize};

use super::extract::{ApiPath, AuthUser, JsonBody};
use super::fields::{reject_invalid, required};
use crate::error::{ApiError, ErrorResponse};
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateApiKeyRequest {
    /// 1 to 100 characters, something visible, no control characters or bidirectional overrides.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 100, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*[!-~\\u00A1-\\u00AC\\u00AE-\\u034E\\u0350-\\u061B\\u061D-\\u115E\\u1161-\\u167F\\u1681-\\u17B3\\u17B6-\\u180A\\u1810-\\u1FFF\\u2010-\\u2027\\u2030-\\u205E\\u2070-\\u2FFF\\u3001-\\u3163\\u3165-\\uD7FF\\uE000-\\uFDFF\\uFE10-\\uFEFE\\uFF00-\\uFF9F\\uFFA1-\\uFFEF][^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$")]
    name: Option<String>,
    /// One or more of `messages:publish`, `rooms:write`, `users:read`.
    #[schema(required = true, value_type = Vec<Scope>, min_items = 1)]
    scopes: Option<Vec<String>>,
}

impl CreateApiKeyRequest {
    fn try_into_domain(self) -> Result<(ApiKeyName, Vec<Scope>), ApiError> {
        let mut fields = FieldErrors::default();
        let name = required(&mut fields, "name", &self.name)
            .and_then(|raw| fields.check("name", ApiKeyName::parse(raw)));
        let scopes = match &self.scopes {
            Some(raw) => fields.check("scopes", Scope::parse_list(raw.iter().map(String::as_str))),
            None => {
                fields.add("scopes", "is required");
                None
            }
        };
        reject_invalid(fields)?;
        name.zip(scopes).ok_or(ApiError::Internal)
    }
}

/// A key just made: the only answer that holds its secret.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IssuedKey {
    key: ApiKey,
    /// `ck_...`: shown this once.
    secret: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyList {
    keys: Vec<ApiKey>,
}

#[utoipa::path(post, path = "/admin/api-keys", tag = "admin", security(("user" = [])),
    request_body = CreateApiKeyRequest,
    responses((status = 201, body = IssuedKey), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: administrators only", body = ErrorResponse), (status = 413, description = "`payload_too_large`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)),
)]
pub async fn create(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    JsonBody(body): JsonBody<CreateApiKeyRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let (name, scopes) = body.try_into_domain()?;
    let issued = state.admin.create_api_key(caller, name, scopes).await?;
    let body = IssuedKey { key: issued.key, secret: issued.secret.expose().to_owned() };
    Ok((StatusCode::CREATED, Json(body)))
}

#[utoipa::path(get, path = "/admin/api-keys", tag = "admin", security(("user" = [])),
    responses((status = 200, description = "newest first, revoked ones included", body = KeyList), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: administrators only", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)),
)]
pub async fn list(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<Json<KeyList>, ApiError> {
    Ok(Json(KeyList { keys: state.admin.api_keys(caller).await? }))
}

#[utoipa::path(delete, path = "/admin/api-keys/{id}", tag = "admin", security(("user" = [])),
    params(("id" = uuid::Uuid, Path, description = "The key's id")),
    responses((status = 200, description = "revoked (a revoked key stays as it was)", body = ApiKey), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: administrators only", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)),
)]
pub async fn revoke(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath(id): ApiPath<ApiKeyId>,
) -> Result<Json<ApiKey>, ApiError> {
    Ok(Json(state.admin.revoke_api_key(caller, id).await?))
}
