//! Request extractors whose every rejection is an [`ApiError`] in the contract's shape.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chat_shared::domain::{AccessClaims, ApiKey, ApiKeySecret, LoginId, UserId};
use chat_shared::ports::TokenError;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body. Malformed JSON and values of the wrong type or unknown variants are
/// `invalid_input` naming the field; a body over the limit is `payload_too_large`.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(body_rejection)?;
        parse_json(&bytes).map(JsonBody)
    }
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::invalid("the request body could not be read")
    }
}

/// Parses a JSON object, naming the field at fault when the shape is wrong. Anything else
/// (an array, which serde would read into a struct by position, a string, `null`) is refused.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let starts_an_object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if !starts_an_object && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
        return Err(ApiError::invalid("malformed JSON: the body must be a JSON object"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() || path == "." {
            ApiError::invalid(format!("malformed JSON: {inner}"))
        } else {
            ApiError::invalid_field(&path, strip_position(&inner.to_string()))
        }
    })?;
    deserializer.end().map_err(|_| ApiError::invalid("malformed JSON: trailing characters"))?;
    Ok(value)
}

/// serde_json appends " at line L column C", which means nothing to a field-level reason.
fn strip_position(reason: &str) -> String {
    match reason.rfind(" at line ") {
        Some(at) => reason[..at].to_owned(),
        None => reason.to_owned(),
    }
}

/// A path parameter; a malformed one (an id that is not a UUID) is `invalid_input`.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| ApiPath(value))
            .map_err(|rejection: PathRejection| {
                ApiError::invalid(format!("bad path: {}", rejection.body_text()))
            })
    }
}

/// The caller, authenticated by `Authorization: Bearer <access token>`.
pub struct AuthUser(pub UserId);

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        bearer_claims(parts, &AppState::from_ref(state)).await.map(|claims| AuthUser(claims.user_id))
    }
}

/// The caller and the login their token belongs to (`None` for a token issued before tokens
/// named their login): for what treats the caller's own login apart from their others.
pub struct AuthLogin {
    pub user: UserId,
    pub login: Option<LoginId>,
}

impl<S> FromRequestParts<S> for AuthLogin
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let claims = bearer_claims(parts, &AppState::from_ref(state)).await?;
        Ok(AuthLogin { user: claims.user_id, login: claims.login })
    }
}

/// An application backend, authenticated by `Authorization: Bearer <API key>`: a key that
/// exists and is not revoked.
pub struct ApiKeyCaller(pub ApiKey);

impl<S> FromRequestParts<S> for ApiKeyCaller
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        if !token.starts_with(ApiKeySecret::PREFIX) {
            return Err(ApiError::Unauthorized("this route takes an API key"));
        }
        let key = AppState::from_ref(state).admin.api_key(&ApiKeySecret::from_client(token)).await;
        key.map(ApiKeyCaller).map_err(|err| match err {
            chat_shared::error::Error::Unauthorized => ApiError::Unauthorized("invalid API key"),
            other => other.into(),
        })
    }
}

/// The token of an `Authorization: Bearer` header.
fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts.headers.get(AUTHORIZATION).ok_or(ApiError::Unauthorized("missing bearer token"))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .ok_or(ApiError::Unauthorized("malformed authorization header"))?;
    Ok(token.trim())
}

/// The claims of a valid bearer token whose login has not ended.
async fn bearer_claims(parts: &Parts, state: &AppState) -> Result<AccessClaims, ApiError> {
    let token = bearer(parts)?;
    let claims = match state.issuer.verify(token, state.clock.now()) {
        Ok(claims) => claims,
        Err(TokenError::Expired) => return Err(ApiError::Unauthorized("token expired")),
        Err(TokenError::Invalid) => return Err(ApiError::Unauthorized("invalid token")),
    };
    if let Some(login) = claims.login
        && state.revocations.is_revoked(login).await
    {
        return Err(ApiError::Unauthorized("login ended"));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: Option<String>,
        count: Option<u32>,
    }

    fn fields_of(err: ApiError) -> Vec<String> {
        match err {
            ApiError::InvalidInput { fields, .. } => fields.iter().map(|(k, _)| k.to_owned()).collect(),
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[test]
    fn a_wrong_type_names_the_field() {
        let err = parse_json::<Body>(br#"{"name": 5}"#).unwrap_err();
        assert_eq!(fields_of(err), vec!["name"]);
    }

    #[test]
    fn malformed_json_is_invalid_input_without_fields() {
        for bad in [&b"{"[..], b"", b"nonsense", b"{\"name\": \"a\"} trailing", b"[1,2]"] {
            let err = parse_json::<Body>(bad).unwrap_err();
            assert_eq!(err.code(), "invalid_input");
        }
    }

    #[test]
    fn a_body_that_is_valid_json_but_no_object_is_refused_without_fields() {
        for bad in [&br#"["a", 1]"#[..], b" [null, 1]", b"null", b"\"a\"", b"7", b"true"] {
            match parse_json::<Body>(bad).unwrap_err() {
                ApiError::InvalidInput { message, fields } => {
                    assert_eq!(message, "malformed JSON: the body must be a JSON object");
                    assert!(fields.is_empty());
                }
                other => panic!("expected invalid input, got {other:?}"),
            }
        }
        assert!(parse_json::<Body>(b" \n{\"name\": \"a\"}").is_ok());
    }

    #[test]
    fn unknown_fields_are_ignored_for_forward_compatibility() {
        assert!(parse_json::<Body>(br#"{"name": "a", "extra": true}"#).is_ok());
    }
}
