//! `/users/*`: profiles.

use axum::Json;
use axum::extract::State;
use chat_shared::domain::{DisplayName, User, UserId};
use chat_shared::error::FieldErrors;
use chat_shared::usecases::Limit;
use serde::Deserialize;

use super::extract::{ApiPath, AuthUser, JsonBody};
use super::fields::{reject_invalid, required};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct UpdateMeRequest {
    display_name: Option<String>,
}

impl UpdateMeRequest {
    pub fn try_into_domain(self) -> Result<DisplayName, ApiError> {
        let mut fields = FieldErrors::default();
        let name = required(&mut fields, "display_name", &self.display_name)
            .and_then(|raw| fields.check("display_name", DisplayName::parse(raw)));
        reject_invalid(fields)?;
        name.ok_or(ApiError::Internal)
    }
}

pub async fn me(State(state): State<AppState>, AuthUser(caller): AuthUser) -> Result<Json<User>, ApiError> {
    Ok(Json(state.users.me(caller).await?))
}

pub async fn update_me(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    JsonBody(body): JsonBody<UpdateMeRequest>,
) -> Result<Json<User>, ApiError> {
    let name = body.try_into_domain()?;
    state.limits.user(Limit::WritesPerUser, caller).await?;
    Ok(Json(state.users.rename(caller, &name).await?))
}

pub async fn get(
    State(state): State<AppState>,
    AuthUser(_): AuthUser,
    ApiPath(id): ApiPath<UserId>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(state.users.get(id).await?))
}
