//! `GET /ws`: authenticates, picks the subprotocol, and hands the socket to a [`session`].

mod hot_metrics;
mod hub;
mod send_limit;
mod session;

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::response::Response;
use bytes::Bytes;
use chat_shared::domain::UserId;
use chat_shared::protocol::{Codec, Command, decode_client_frame};
use serde::Deserialize;

use crate::app::AppState;
pub use hub::Hub;
pub use session::WsSettings;

/// Close codes of the contract.
pub mod close {
    pub const SERVICE_RESTART: u16 = 1012;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const UNAUTHORIZED: u16 = 4001;
    pub const TOO_SLOW: u16 = 4002;
    pub const RATE_LIMITED: u16 = 4008;
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
        tracker.spawn(accept(state, socket, codec, token));
    })
}

/// Authenticates a fresh socket, by the token given at upgrade or a first `auth` frame, and
/// starts its session as a task of its own: what a connection holds for as long as it lives
/// is then the session alone, not also the handshake's state (each idle connection's task
/// stays in a smaller allocation).
async fn accept(state: AppState, mut socket: WebSocket, codec: Codec, token: Option<String>) {
    let token = match token {
        Some(token) => Some(token),
        None => first_frame_token(&mut socket, codec).await,
    };
    let Some(token) = token else {
        close_with(socket, close::UNAUTHORIZED, "authentication required").await;
        return;
    };
    match authenticate(&state, &token).await {
        Some((user, expires_at)) => {
            let tracker = state.sessions.clone();
            tracker.spawn(session::run(state, socket, codec, user, expires_at));
        }
        None => close_with(socket, close::UNAUTHORIZED, "invalid or expired token").await,
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

/// The user a token names, if it is valid and the user still exists, with its expiry.
pub async fn authenticate(state: &AppState, token: &str) -> Option<(UserId, chrono::DateTime<chrono::Utc>)> {
    let claims = state.issuer.verify(token, state.clock.now()).ok()?;
    state.users.me(claims.user_id).await.ok()?;
    Some((claims.user_id, claims.expires_at))
}

pub async fn close_with(mut socket: WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame { code, reason: reason.into() };
    let _ = socket.send(WsMessage::Close(Some(frame))).await;
}
