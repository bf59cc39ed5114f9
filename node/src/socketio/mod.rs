//! Socket.IO at `/socket.io/`, beside `/ws`: each socket is authenticated and admitted as a
//! WebSocket is, then runs the same session, its events turned into client frames and the
//! session's frames into acknowledgements and events.
//!
//! socketioxide speaks Engine.IO v4 and Socket.IO v5; the jobs here each have a file: the
//! handshake (`handshake`), the events on their way in (`events`, `bridge`) and the frames on
//! their way out (`frames`, `sink`).

mod bridge;
mod events;
mod frames;
mod handshake;
mod sink;

use std::fmt::Display;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::MethodRouter;
use chat_shared::protocol::Codec;
use socketioxide::adapter::LocalAdapter;
use socketioxide::handler::{ConnectHandler, ConnectMiddleware};
use socketioxide::service::SocketIoService;
use socketioxide::socket::Socket;
use socketioxide::{SocketIo, TransportType};
use socketioxide_core::Value as SioValue;

use crate::connections::Admission;
use crate::state::AppState;
use crate::ws::auth::Authenticated;
use crate::ws::session;
use bridge::{Bridge, Disconnected, Events, Inbox};
use sink::SocketSink;

/// How long an Engine.IO connection may stay without joining the namespace, as a WebSocket
/// may stay unauthenticated.
const CONNECT_DEADLINE: Duration = Duration::from_secs(10);

/// The Socket.IO service of the node, to be routed at `/socket.io/`.
pub type Service = SocketIoService<MethodRouter>;

/// The Socket.IO service over the node's state.
pub fn service(state: AppState) -> Service {
    let settings = &state.ws;
    // Events up to this size reach the bridge, which closes the connection with 1009 for one
    // over the frame limit, as `/ws` does; larger ones end the transport at once.
    let transport_limit = settings.max_frame_bytes.saturating_mul(4).max(64 * 1024);
    let (service, io) = SocketIo::builder()
        .max_buffer_size(settings.outbound_queue.max(1))
        .max_payload(transport_limit as u64)
        .ws_max_message_size(transport_limit)
        .ws_max_frame_size(transport_limit)
        .connect_timeout(CONNECT_DEADLINE)
        .transports([TransportType::Websocket, TransportType::Polling])
        // The inner service is for other paths, which the router never sends here.
        .build_with_inner_svc(MethodRouter::new());
    io.ns("/", Start(state.clone()).with(Admit(state)));
    service
}

/// An admitted socket's session, from the handshake until the namespace connected.
struct Starting {
    authenticated: Authenticated,
    admission: Admission,
    bridge: Arc<Bridge>,
    inbox: Inbox,
}

/// How a socket's `Starting` is kept among its extensions, which must be `Clone`.
#[derive(Clone)]
struct Admitted(Arc<Mutex<Option<Starting>>>);

/// The namespace's middleware: authenticates and admits a socket, and routes its events to a
/// bridge before the namespace connects, so that none arriving right after is missed.
#[derive(Clone)]
struct Admit(AppState);

impl ConnectMiddleware<LocalAdapter, Admit> for Admit {
    async fn call<'a>(
        &'a self,
        socket: Arc<Socket>,
        auth: &'a Option<SioValue>,
    ) -> Result<(), Box<dyn Display + Send>> {
        let token = handshake::token(
            auth.as_ref().and_then(SioValue::as_str).map(|auth| auth.as_str()),
            socket.req_parts(),
        );
        let (authenticated, admission) = handshake::admit(&self.0, token)
            .await
            .map_err(|refusal| Box::new(refusal) as Box<dyn Display + Send>)?;
        let (bridge, inbox) = Bridge::new(self.0.ws.max_frame_bytes);
        socket.on_fallback(Events(bridge.clone()));
        socket.on_disconnect(Disconnected(bridge.clone()));
        let starting = Starting { authenticated, admission, bridge, inbox };
        socket.extensions.insert(Admitted(Arc::new(Mutex::new(Some(starting)))));
        Ok(())
    }
}

/// The namespace's connect handler: starts the session of a socket the middleware admitted.
#[derive(Clone)]
struct Start(AppState);

impl ConnectHandler<LocalAdapter, Start> for Start {
    fn call(&self, socket: Arc<Socket>, _: Option<SioValue>) {
        let starting = socket
            .extensions
            .remove::<Admitted>()
            .and_then(|admitted| admitted.0.lock().unwrap_or_else(|e| e.into_inner()).take());
        let Some(Starting { authenticated, admission, bridge, inbox }) = starting else { return };
        let state = self.0.clone();
        let sink = SocketSink::new(socket, bridge);
        let connection = session::Connection { codec: Codec::Json, authenticated, admission };
        state.sessions.clone().spawn(session::run(state, sink, inbox, connection));
    }
}
