//! Who connects: the token of a Socket.IO handshake, checked as `/ws` checks its own, and the
//! connection admitted against the node's caps. A refusal is the namespace's connect error.

use std::fmt;

use axum::extract::Query;
use axum::http::request::Parts;
use chat_shared::protocol::ErrorBody;
use serde::Deserialize;

use crate::connections::Admission;
use crate::error::ApiError;
use crate::state::AppState;
use crate::ws::WsQuery;
use crate::ws::auth::{AuthRefusal, Authenticated, authenticate, bearer};
use crate::ws::close::Close;

/// Why a connection was refused: the contract's error object. socketioxide's connect error
/// carries a message and no `data`, so the object goes as JSON in the message.
#[derive(Debug, PartialEq)]
pub(super) struct Refusal(ErrorBody);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&serde_json::to_string(&self.0).map_err(|_| fmt::Error)?)
    }
}

impl From<ApiError> for Refusal {
    fn from(err: ApiError) -> Self {
        Refusal(ErrorBody::from(&err))
    }
}

/// The handshake's `auth` object, of which only the token matters.
#[derive(Deserialize)]
struct Auth {
    token: Option<String>,
}

/// The token of a handshake: `auth: {token}`, else an `Authorization: Bearer` header, else
/// `?token=`. `auth` is the JSON of the handshake's auth object, if it sent one.
pub(super) fn token(auth: Option<&str>, request: &Parts) -> Option<String> {
    let from_auth = auth.and_then(|auth| serde_json::from_str::<Auth>(auth).ok()).and_then(|auth| auth.token);
    let from_query = || Query::<WsQuery>::try_from_uri(&request.uri).ok().and_then(|query| query.0.token);
    from_auth.or_else(|| bearer(&request.headers)).or_else(from_query)
}

/// Checks the token and admits the connection, in the order `/ws` does: the node's cap, the
/// token, then the user's cap.
pub(super) async fn admit(
    state: &AppState,
    token: Option<String>,
) -> Result<(Authenticated, Admission), Refusal> {
    if state.readiness.is_draining() {
        return Err(ApiError::Unavailable(Close::Restarting.reason().into()).into());
    }
    let Some(mut admission) = state.connections.admit() else {
        metrics::counter!("chat_ws_refused_total", "reason" => "node_full").increment(1);
        return Err(ApiError::Unavailable(
            "this node holds as many connections as it may; retry later".into(),
        )
        .into());
    };
    let token = token.ok_or(ApiError::Unauthorized(Close::AuthRequired.reason()))?;
    let authenticated = authenticate(state, &token).await.map_err(refused)?;
    if !admission.for_user(authenticated.user) {
        metrics::counter!("chat_ws_refused_total", "reason" => "user_full").increment(1);
        return Err(Refusal(ErrorBody::new("rate_limited", Close::TooManyConnections.reason())));
    }
    Ok((authenticated, admission))
}

/// The contract's error for a token that did not authenticate: the codes of REST, with the
/// reasons of the `/ws` closes.
fn refused(refusal: AuthRefusal) -> Refusal {
    let error = match refusal {
        AuthRefusal::Invalid | AuthRefusal::Ended => ApiError::Unauthorized(refusal.close().reason()),
        AuthRefusal::Unavailable => ApiError::Unavailable(Close::TryAgainLater.reason().into()),
        AuthRefusal::Internal => ApiError::Internal,
    };
    error.into()
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    fn parts(uri: &str, bearer: Option<&str>) -> Parts {
        let mut request = Request::builder().uri(uri);
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_auth_objects_token_comes_first_then_the_header_then_the_query() {
        let all = parts("/socket.io/?EIO=4&transport=websocket&token=q", Some("h"));
        assert_eq!(token(Some(r#"{"token":"a"}"#), &all).as_deref(), Some("a"));
        assert_eq!(token(Some("{}"), &all).as_deref(), Some("h"));
        assert_eq!(token(None, &parts("/socket.io/?token=q%2Bx", None)).as_deref(), Some("q+x"));
    }

    #[test]
    fn no_token_anywhere_is_none() {
        let bare = parts("/socket.io/?EIO=4&transport=websocket", None);
        assert_eq!(token(None, &bare), None);
        assert_eq!(token(Some(r#"{"token": 12}"#), &bare), None);
        assert_eq!(token(Some(r#""a string""#), &bare), None);
        assert_eq!(token(Some(r#"{"token":null}"#), &bare), None);
    }

    #[test]
    fn a_refusal_reads_as_the_contracts_error_object() {
        let refusal = refused(AuthRefusal::Ended);
        let shown: serde_json::Value = serde_json::from_str(&refusal.to_string()).unwrap();
        assert_eq!(shown, serde_json::json!({"code": "unauthorized", "message": "login ended"}));
    }

    #[test]
    fn each_auth_refusal_has_the_code_a_client_acts_on() {
        let code = |refusal| refused(refusal).0.code;
        assert_eq!(code(AuthRefusal::Invalid), "unauthorized");
        assert_eq!(code(AuthRefusal::Ended), "unauthorized");
        assert_eq!(code(AuthRefusal::Unavailable), "unavailable");
        assert_eq!(code(AuthRefusal::Internal), "internal");
    }
}
