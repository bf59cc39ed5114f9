//! `GET /ws`: authenticates, picks the subprotocol, and hands the socket to a [`session`].
//! Socket.IO connections (`crate::socketio`) authenticate with the same functions and run the
//! same session.

pub(crate) mod auth;
pub(crate) mod close;
mod send_limit;
pub(crate) mod session;

use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chat_shared::protocol::{Codec, Command, decode_client_frame};
use futures::StreamExt;
use serde::Deserialize;

use crate::connections::Admission;
use crate::error::ApiError;
use crate::state::AppState;
use auth::authenticate;
use close::Close;

/// How long a connection may stay unauthenticated.
const AUTH_DEADLINE: Duration = Duration::from_secs(10);
/// What each connection reserves for reading frames. The default (128 KiB) is allocated per
/// connection up front; chat frames are small (4 KiB holds a score of typical sends), the
/// buffer grows for the rare large one, and on an idle connection it is the largest item.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// The query of an upgrade: the token, when the client puts it there.
#[derive(Deserialize)]
pub struct WsQuery {
    pub(crate) token: Option<String>,
}

pub async fn upgrade(
    State(state): State<AppState>,
    Query(query): Query<WsQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let token = auth::bearer(&headers).or(query.token);
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
            close_with(socket, Close::Restarting).await;
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
        close_with(socket, Close::AuthRequired).await;
        return;
    };
    match authenticate(&state, &token).await {
        Ok(authenticated) if !admission.for_user(authenticated.user) => {
            metrics::counter!("chat_ws_refused_total", "reason" => "user_full").increment(1);
            close_with(socket, Close::TooManyConnections).await;
        }
        Ok(authenticated) => {
            let tracker = state.sessions.clone();
            let (sink, stream) = socket.split();
            let connection = session::Connection { codec, authenticated, admission };
            tracker.spawn(session::run(state, sink, stream, connection));
        }
        Err(refusal) => close_with(socket, refusal.close()).await,
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

pub async fn close_with(mut socket: WebSocket, close: Close) {
    let _ = socket.send(WsMessage::Close(Some(close.frame()))).await;
}
