//! Operations: liveness, readiness, metrics, and answers for unknown routes.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.readiness.check().await {
        Ok(ready) if ready.degraded.is_empty() => Json(json!({ "status": "ready" })).into_response(),
        Ok(ready) => Json(json!({ "status": "degraded", "degraded": ready.degraded })).into_response(),
        Err(reason) => ApiError::Unavailable(reason.to_string()).into_response(),
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

pub async fn method_not_allowed() -> Response {
    let body =
        json!({ "error": { "code": "method_not_allowed", "message": "method not allowed on this route" } });
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}
