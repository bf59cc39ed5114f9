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
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct CreateApiKeyRequest {
    name: Option<String>,
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
#[derive(Serialize)]
pub struct IssuedKey {
    key: ApiKey,
    secret: String,
}

#[derive(Serialize)]
pub struct KeyList {
    keys: Vec<ApiKey>,
}

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

pub async fn list(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<Json<KeyList>, ApiError> {
    Ok(Json(KeyList { keys: state.admin.api_keys(caller).await? }))
}

pub async fn revoke(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath(id): ApiPath<ApiKeyId>,
) -> Result<Json<ApiKey>, ApiError> {
    Ok(Json(state.admin.revoke_api_key(caller, id).await?))
}
