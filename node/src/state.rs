//! What every request handler and WebSocket session can reach: the use cases, the fan-out
//! hub, the connection limits and the node's lifecycle.

use std::sync::Arc;

use chat_shared::ports::{Clock, TokenIssuer};
use chat_shared::usecases::{
    AbuseLimits, AdminService, AuthService, LoginRevocations, MessageService, PresenceService, RoomService,
    UserService,
};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::WsSettings;
use crate::connections::Connections;
use crate::feeds::Feeds;
use crate::hub::Hub;
use crate::logins::SocketsByLogin;
use crate::trusted_proxies::TrustedProxies;
use chat_adapters::readiness::Readiness;

/// Everything a request handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub auth: Arc<AuthService>,
    pub users: Arc<UserService>,
    pub admin: Arc<AdminService>,
    pub rooms: Arc<RoomService>,
    pub messages: Arc<MessageService>,
    pub presence: Arc<PresenceService>,
    pub limits: Arc<AbuseLimits>,
    /// Whose forwarding headers name a request's client.
    pub trusted_proxies: Arc<TrustedProxies>,
    pub hub: Hub,
    /// The feeds of the users this node holds sockets of.
    pub feeds: Feeds,
    pub ws: Arc<WsSettings>,
    /// The WebSockets held, against the caps.
    pub connections: Arc<Connections>,
    /// The logins that ended, for the token checks of REST and WebSocket alike.
    pub revocations: Arc<LoginRevocations>,
    /// The WebSockets held, by login, so a login that ends closes its own.
    pub sockets_by_login: Arc<SocketsByLogin>,
    /// Every WebSocket session, so shutdown can wait for them.
    pub sessions: TaskTracker,
    /// Cancelled at shutdown: sessions close with 1012.
    pub shutdown: CancellationToken,
    pub issuer: Arc<dyn TokenIssuer>,
    pub clock: Arc<dyn Clock>,
    pub readiness: Arc<Readiness>,
    pub metrics: PrometheusHandle,
}
