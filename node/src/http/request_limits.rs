//! The edge's limits on every request of the API, answered in the contract's shape: a body
//! declared larger than the limit is refused before it is read, and a request that takes too
//! long is answered `503 unavailable` (the work it started may still finish).

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

#[derive(Clone, Copy)]
pub struct RequestLimits {
    pub max_body_bytes: usize,
    pub timeout: Duration,
}

pub async fn enforce(State(limits): State<RequestLimits>, request: Request, next: Next) -> Response {
    let declared = request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limits.max_body_bytes as u64) {
        return ApiError::PayloadTooLarge.into_response();
    }
    match tokio::time::timeout(limits.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Unavailable("the request took too long; try again".into()).into_response(),
    }
}
