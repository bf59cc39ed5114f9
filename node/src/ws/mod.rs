//! `GET /ws`: authenticates, picks the subprotocol, and hands the socket to a [`session`].

mod connections;
mod hot_metrics;
mod hub;
mod send_limit;
mod session;

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chat_shared::domain::UserId;
use chat_shared::error::Error;
use chat_shared::protocol::{Codec, Command, decode_client_frame};
use serde::Deserialize;

use crate::app::AppState;
use crate::http::error::ApiError;
pub use connections::{Admission, Connections};
pub use hub::Hub;
pub use session::WsSettings;

/// Close codes of the contract.
pub mod close {
    /// The peer broke the WebSocket protocol (an unmasked frame, a reserved bit, a control
    /// frame over 125 bytes).
    pub const PROTOCOL: u16 = 1002;
    /// A text frame that is not UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    /// The server failed in a way that is its own fault.
    pub const INTERNAL: u16 = 1011;
    pub const SERVICE_RESTART: u16 = 1012;
    /// A backing service is unavailable: the token may well be good; reconnect later.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    pub const UNAUTHORIZED: u16 = 4001;
    pub const TOO_SLOW: u16 = 4002;
    pub const RATE_LIMITED: u16 = 4008;
    /// The user holds as many sockets on this node as they may.
    pub const TOO_MANY_CONNECTIONS: u16 = 4029;
}

/// An encoded frame as the socket sends it: text for JSON (checked to be UTF-8 here), binary for
/// MessagePack. `None` for no bytes, or JSON that is not UTF-8 (serde_json writes none).
fn ws_message(codec: Codec, frame: Bytes) -> Option<WsMessage> {
    if frame.is_empty() {
        return None;
    }
    Some(match codec {
        Codec::Json => WsMessage::Text(Utf8Bytes::try_from(frame).ok()?),
        Codec::MsgPack => WsMessage::Binary(frame),
    })
}

/// How long a connection may stay unauthenticated.
const AUTH_DEADLINE: Duration = Duration::from_secs(10);
/// What each connection reserves for reading frames. The default (128 KiB) is allocated per
/// connection up front; chat frames are small (4 KiB holds a score of typical sends), the
/// buffer grows for the rare large one, and on an idle connection it is the largest item.
const READ_BUFFER_BYTES: usize = 4 * 1024;

#[derive(Deserialize)]
pub struct WsQuery {
    token: Option<String>,
}

pub async fn upgrade(
    State(state): State<AppState>,
    Query(query): Query<WsQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let token = bearer.or(query.token);
    let Some(admission) = state.connections.admit() else {
        metrics::counter!("chat_ws_refused_total", "reason" => "node_full").increment(1);
        return ApiError::Unavailable("this node holds as many connections as it may; retry later".into())
            .into_response();
    };
    let max = state.ws.max_frame_bytes;
    let ws = ws
        .protocols(chat_shared::protocol::SUBPROTOCOLS)
        .max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER_BYTES);
    let codec = ws
        .selected_protocol()
        .and_then(|p| p.to_str().ok())
        .and_then(Codec::from_subprotocol)
        .unwrap_or(Codec::Json);
    ws.on_upgrade(move |socket| async move {
        let tracker = state.sessions.clone();
        if state.readiness.is_draining() {
            close_with(socket, close::SERVICE_RESTART, "server restarting").await;
            return;
        }
        tracker.spawn(accept(state, socket, codec, token, admission));
    })
}

/// Authenticates a fresh socket, by the token given at upgrade or a first `auth` frame, and
/// starts its session as a task of its own: what a connection holds for as long as it lives
/// is then the session alone, not also the handshake's state (each idle connection's task
/// stays in a smaller allocation).
async fn accept(
    state: AppState,
    mut socket: WebSocket,
    codec: Codec,
    token: Option<String>,
    mut admission: Admission,
) {
    let token = match token {
        Some(token) => Some(token),
        None => first_frame_token(&mut socket, codec).await,
    };
    let Some(token) = token else {
        close_with(socket, close::UNAUTHORIZED, "authentication required").await;
        return;
    };
    match authenticate(&state, &token).await {
        Ok((user, _)) if !admission.for_user(user) => {
            metrics::counter!("chat_ws_refused_total", "reason" => "user_full").increment(1);
            close_with(socket, close::TOO_MANY_CONNECTIONS, "too many connections of this user").await;
        }
        Ok((user, expires_at)) => {
            let tracker = state.sessions.clone();
            tracker.spawn(session::run(state, socket, codec, user, expires_at, admission));
        }
        Err(refusal) => {
            let (code, reason) = refusal.close();
            close_with(socket, code, reason).await;
        }
    }
}

/// Waits up to the deadline for `{"type": "auth", "token"}`.
async fn first_frame_token(socket: &mut WebSocket, codec: Codec) -> Option<String> {
    let frame = tokio::time::timeout(AUTH_DEADLINE, socket.recv()).await.ok()??.ok()?;
    let bytes = match frame {
        WsMessage::Text(text) => bytes::Bytes::from(text),
        WsMessage::Binary(bytes) => bytes,
        _ => return None,
    };
    match decode_client_frame(codec, &bytes).ok()?.command {
        Command::Auth { token } => Some(token),
        _ => None,
    }
}

/// Why a token did not authenticate a socket. Only a token that is bad in itself, or names a
/// user who no longer exists, is `Invalid`: a client that hears so throws its token away, so
/// a store that cannot answer must not say it.
#[derive(Debug)]
pub enum AuthRefusal {
    Invalid,
    /// The user could not be looked up; the token may be good.
    Unavailable,
    Internal,
}

impl AuthRefusal {
    /// The close code and reason of a socket refused for this.
    pub fn close(&self) -> (u16, &'static str) {
        match self {
            AuthRefusal::Invalid => (close::UNAUTHORIZED, "invalid or expired token"),
            AuthRefusal::Unavailable => {
                (close::TRY_AGAIN_LATER, "a backing service is unavailable; retry later")
            }
            AuthRefusal::Internal => (close::INTERNAL, "internal error; retry later"),
        }
    }
}

/// The user a token names, if it is valid and the user still exists, with its expiry.
pub async fn authenticate(
    state: &AppState,
    token: &str,
) -> Result<(UserId, chrono::DateTime<chrono::Utc>), AuthRefusal> {
    let claims = state.issuer.verify(token, state.clock.now()).map_err(|_| AuthRefusal::Invalid)?;
    match state.users.me(claims.user_id).await {
        Ok(_) => Ok((claims.user_id, claims.expires_at)),
        Err(Error::Unauthorized | Error::NotFound(_)) => Err(AuthRefusal::Invalid),
        Err(Error::Unavailable(source)) => {
            tracing::warn!(error = %source, "a socket's user could not be looked up");
            Err(AuthRefusal::Unavailable)
        }
        Err(err) => {
            tracing::error!(error = ?err, "a socket's user could not be looked up");
            Err(AuthRefusal::Internal)
        }
    }
}

pub async fn close_with(mut socket: WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame { code, reason: reason.into() };
    let _ = socket.send(WsMessage::Close(Some(frame))).await;
}
