//! The one error type of the node's edges, HTTP and WebSocket alike: the contract's status and
//! code, a message fit for a client, and nothing internal. Use-case errors map to it here only.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chat_shared::error::{Error, FieldErrors};
use chat_shared::protocol::ErrorBody;
use serde_json::Value;

#[derive(Debug)]
pub enum ApiError {
    InvalidInput {
        message: String,
        fields: FieldErrors,
    },
    Unauthorized(&'static str),
    Forbidden(&'static str),
    NotFound(String),
    Conflict(&'static str),
    PayloadTooLarge,
    /// Too many attempts; the client may try again after `retry_after`.
    RateLimited {
        retry_after: Duration,
    },
    Unavailable(String),
    Internal,
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::InvalidInput { message: message.into(), fields: FieldErrors::default() }
    }

    pub fn invalid_field(field: &str, reason: impl Into<String>) -> Self {
        let mut fields = FieldErrors::default();
        fields.add(field, reason);
        ApiError::InvalidInput { message: "the request is invalid".into(), fields }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidInput { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidInput { .. } => "invalid_input",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal => "internal",
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::InvalidInput { message, .. } => message.clone(),
            ApiError::Unauthorized(m) | ApiError::Forbidden(m) | ApiError::Conflict(m) => (*m).to_owned(),
            ApiError::NotFound(m) | ApiError::Unavailable(m) => m.clone(),
            ApiError::PayloadTooLarge => "the request body is too large".into(),
            ApiError::RateLimited { retry_after } => {
                format!("too many requests; retry in {} s", retry_after_secs(*retry_after))
            }
            ApiError::Internal => "internal error".into(),
        }
    }

    /// The `{"code", "message", "fields"?}` object, shared with WebSocket replies.
    pub fn body(&self) -> Value {
        serde_json::to_value(ErrorBody::from(self)).expect("an error body is plain JSON")
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        match err {
            Error::InvalidInput(fields) => {
                ApiError::InvalidInput { message: "the request is invalid".into(), fields }
            }
            Error::Unauthorized => ApiError::Unauthorized("invalid credentials"),
            Error::Forbidden(why) => ApiError::Forbidden(why),
            Error::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            Error::Conflict(why) => ApiError::Conflict(why),
            Error::RateLimited { limit, retry_after } => {
                metrics::counter!("chat_rate_limited_total", "limit" => limit).increment(1);
                ApiError::RateLimited { retry_after }
            }
            Error::Unavailable(source) => {
                tracing::warn!(error = %source, "a backing service is unavailable");
                ApiError::Unavailable("a backing service is unavailable; retry later".into())
            }
            Error::Internal(source) => {
                tracing::error!(error = ?source, "internal error");
                ApiError::Internal
            }
        }
    }
}

/// The same error in a WebSocket reply or `error` frame.
impl From<&ApiError> for ErrorBody {
    fn from(err: &ApiError) -> Self {
        let fields = match err {
            ApiError::InvalidInput { fields, .. } => fields.clone(),
            _ => FieldErrors::default(),
        };
        ErrorBody { code: err.code(), message: err.message(), fields }
    }
}

/// Every error answer of the REST API: `{"error": {"code", "message", "fields"?}}`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorResponse {
    error: ErrorBody,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorResponse { error: ErrorBody::from(&self) };
        let mut response = (self.status(), Json(body)).into_response();
        let retry_after = match self {
            ApiError::RateLimited { retry_after } => retry_after_secs(retry_after),
            ApiError::Unavailable(_) => 1,
            _ => return response,
        };
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        response
    }
}

/// Whole seconds to wait, rounded up: a client that waits that long is allowed again.
fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_show_nothing_of_their_cause() {
        let err: ApiError = Error::Internal("syntax error at or near SELECT".into()).into();
        let body = err.body().to_string();
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.contains("SELECT"), "{body}");
    }

    #[test]
    fn a_rate_limit_says_when_to_retry_in_whole_seconds_rounded_up() {
        let limited = Error::RateLimited { limit: "login_client", retry_after: Duration::from_millis(2_001) };
        let response = ApiError::from(limited).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
        assert_eq!(
            ApiError::RateLimited { retry_after: Duration::from_secs(1) }.message(),
            "too many requests; retry in 1 s"
        );
        assert_eq!(retry_after_secs(Duration::from_secs(4)), 4);
    }

    #[test]
    fn invalid_input_lists_each_field() {
        let mut fields = FieldErrors::default();
        fields.add("username", "too short");
        fields.add("password", "too short");
        let err: ApiError = Error::InvalidInput(fields).into();
        assert_eq!(err.body()["fields"]["username"], "too short");
        assert_eq!(err.body()["fields"]["password"], "too short");
    }
}
