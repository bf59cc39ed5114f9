//! `/admin/webhooks`: administrators register, list and delete webhooks, and look at their
//! deliveries.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chat_shared::domain::{Delivery, EventType, Webhook, WebhookId, WebhookUrl};
use chat_shared::error::FieldErrors;
use chat_shared::usecases::DEFAULT_DELIVERY_PAGE;
use serde::{Deserialize, Serialize};

use super::extract::{ApiPath, AuthUser, JsonBody};
use super::fields::{reject_invalid, required};
use crate::error::{ApiError, ErrorResponse};
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateWebhookRequest {
    /// An absolute `http://` or `https://` URL with a host, without credentials, in printable
    /// ASCII, at most 2000 characters.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 2000, pattern = "^[Hh][Tt][Tt][Pp][Ss]?://[!-~]+$")]
    url: Option<String>,
    /// One or more of `message.created`, `room.created`, `member.added`, `member.removed`,
    /// `user.disabled`.
    #[schema(required = true, value_type = Vec<EventType>, min_items = 1)]
    events: Option<Vec<String>>,
}

impl CreateWebhookRequest {
    pub fn try_into_domain(self) -> Result<(WebhookUrl, Vec<EventType>), ApiError> {
        let mut fields = FieldErrors::default();
        let url = required(&mut fields, "url", &self.url)
            .and_then(|raw| fields.check("url", WebhookUrl::parse(raw)));
        let events = match &self.events {
            Some(raw) => fields.check("events", EventType::parse_list(raw.iter().map(String::as_str))),
            None => {
                fields.add("events", "is required");
                None
            }
        };
        reject_invalid(fields)?;
        url.zip(events).ok_or(ApiError::Internal)
    }
}

/// A webhook just registered: the only answer that holds its secret.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RegisteredWebhook {
    webhook: Webhook,
    /// `whsec_...`: the key deliveries are signed with, shown this once.
    secret: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookList {
    webhooks: Vec<Webhook>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryList {
    deliveries: Vec<Delivery>,
}

#[utoipa::path(post, path = "/admin/webhooks", tag = "admin", security(("user" = [])),
    request_body = CreateWebhookRequest,
    responses((status = 201, body = RegisteredWebhook), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: administrators only", body = ErrorResponse), (status = 413, description = "`payload_too_large`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)),
)]
pub async fn create(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    JsonBody(body): JsonBody<CreateWebhookRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let (url, events) = body.try_into_domain()?;
    let registered = state.admin.create_webhook(caller, url, events).await?;
    let body =
        RegisteredWebhook { webhook: registered.webhook, secret: registered.secret.expose().to_owned() };
    Ok((StatusCode::CREATED, Json(body)))
}

#[utoipa::path(get, path = "/admin/webhooks", tag = "admin", security(("user" = [])),
    responses((status = 200, description = "newest first", body = WebhookList), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: administrators only", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)),
)]
pub async fn list(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<Json<WebhookList>, ApiError> {
    Ok(Json(WebhookList { webhooks: state.admin.webhooks(caller).await? }))
}

#[utoipa::path(delete, path = "/admin/webhooks/{id}", tag = "admin", security(("user" = [])),
    params(("id" = uuid::Uuid, Path, description = "The webhook's id")),
    responses((status = 200, description = "deleted, with its deliveries", body = Webhook), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: administrators only", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)),
)]
pub async fn delete(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath(id): ApiPath<WebhookId>,
) -> Result<Json<Webhook>, ApiError> {
    Ok(Json(state.admin.delete_webhook(caller, id).await?))
}

#[utoipa::path(get, path = "/admin/webhooks/{id}/deliveries", tag = "admin", security(("user" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "The webhook's id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "50 unless given"),
    ),
    responses((status = 200, description = "the latest, newest first", body = DeliveryList), (status = 400, description = "`invalid_input`, naming each bad field", body = ErrorResponse), (status = 401, description = "`unauthorized`: no valid token", body = ErrorResponse), (status = 403, description = "`forbidden`: administrators only", body = ErrorResponse), (status = 404, description = "`not_found`", body = ErrorResponse), (status = 503, description = "`unavailable`, with `Retry-After`", body = ErrorResponse)),
)]
pub async fn deliveries(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    ApiPath(id): ApiPath<WebhookId>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<DeliveryList>, ApiError> {
    let limit = match params.get("limit") {
        None => DEFAULT_DELIVERY_PAGE,
        Some(raw) => raw.parse::<usize>().map_err(|_| {
            let mut fields = FieldErrors::default();
            fields.add("limit", "must be a whole number");
            ApiError::InvalidInput { message: "the request is invalid".into(), fields }
        })?,
    };
    Ok(Json(DeliveryList { deliveries: state.admin.webhook_deliveries(caller, id, limit).await? }))
}
