//! Builds a node from its configuration and runs it until a shutdown future resolves. The mode
//! (`cluster` or `embedded`) chooses the adapters; the use cases over them are the same.

mod backends;
mod cluster;
mod embedded;
#[cfg(test)]
pub(crate) mod testing;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context;
use axum::serve::ListenerExt;
use chat_adapters::argon2::Argon2Hasher;
use chat_adapters::jwt::JwtIssuer;
use chat_adapters::telemetry;
use chat_adapters::webhook_http::HttpWebhookSender;
use chat_shared::domain::{RetryPolicy, UserRole, Username, WebhookHosts};
use chat_shared::memory::MemoryRateLimiter;
use chat_shared::ports::{Clock, RateLimiter, SystemClock, TokenIssuer};
use chat_shared::usecases::{
    AbuseLimits, AdminPorts, AdminService, AuthPorts, AuthService, LoginRevocations, MembershipLeases,
    MessageService, MessageWebhooks, PresenceService, PresenceSettings, RoleGrants, RoomPorts, RoomService,
    UserService, WebhookDispatcher, WebhookOutbox,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use backends::Backends;

use crate::config::{AdminCommand, Mode, NodeConfig};
use crate::connections::Connections;
use crate::feeds::Feeds;
use crate::http;
use crate::hub::Hub;
use crate::logins::SocketsByLogin;
use crate::state::AppState;
use crate::unread::UnreadCounting;
use crate::webhooks::WebhookWorker;
use chat_adapters::readiness::Readiness;

/// A node bound to its port and ready to serve.
pub struct Application {
    listener: TcpListener,
    /// Acts on the announcements of ended logins, subscribed to already; runs with the node.
    revocations: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// `/metrics` on an address of its own, when so configured.
    metrics_listener: Option<TcpListener>,
    state: AppState,
    /// Delivers webhooks while the node serves.
    webhooks: WebhookWorker,
    config: NodeConfig,
    node_id: String,
}

impl Application {
    /// Connects the adapters the configuration selects (a cluster's services, or the embedded
    /// database), applies migrations and binds the listener (port 0 picks a free port; see
    /// [`Application::local_addr`]).
    pub async fn build(config: NodeConfig) -> anyhow::Result<Self> {
        let node_id = config.node_id();
        let backends = match config.mode()? {
            Mode::Cluster(urls) => cluster::connect(&config, &urls, &node_id).await?,
            Mode::Embedded => embedded::open(&config).await?,
        };
        let (state, webhooks) = assemble(&config, backends, Arc::new(SystemClock))?;
        let revocations = Box::pin(follow_revocations(&state).await?);
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {} (--listen)", config.listen))?;
        let metrics_listener = match config.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding {addr} (--metrics-listen)"))?,
            ),
            None => None,
        };
        Ok(Self { listener, revocations, metrics_listener, state, webhooks, config, node_id })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Where `/metrics` is served when `--metrics-listen` moved it off the main address.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().map(|l| l.local_addr().expect("a bound listener has an address"))
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Serves until `shutdown` resolves, then drains: readiness turns 503, the listener stops
    /// accepting, and requests in flight finish before this returns.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let addr = self.local_addr();
        tracing::info!(node_id = %self.node_id, %addr, "chat-node listening");
        let readiness = self.state.readiness.clone();
        let sessions = self.state.sessions.clone();
        let close_sessions = self.state.shutdown.clone();
        let revocations = tokio::spawn(self.revocations);
        let webhooks = tokio::spawn(self.webhooks.run(self.state.shutdown.clone()));
        let heartbeat = tokio::spawn(presence_heartbeat(
            self.state.presence.clone(),
            self.config.presence_ttl,
            self.state.shutdown.clone(),
        ));
        let lease_renewal = tokio::spawn(renew_membership_leases(
            self.state.rooms.clone(),
            self.config.membership_lease,
            self.state.shutdown.clone(),
        ));
        let metrics_server = self.metrics_listener.map(|listener| {
            let stop = self.state.shutdown.clone();
            tokio::spawn(
                axum::serve(listener, http::metrics_router(self.state.clone()))
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .into_future(),
            )
        });
        let router = http::router(self.state, &self.config);
        // Frames are small and often written back to back (a reply, then the sender's own
        // copy): without TCP_NODELAY, Nagle's algorithm holds the second for the peer's
        // delayed ACK, about 40 ms.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(error = %err, "could not set TCP_NODELAY");
            }
        });
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                shutdown.await;
                readiness.start_draining();
                close_sessions.cancel();
            })
            .await
            .context("serving HTTP")?;
        // Sessions finish their in-flight sends and close with 1012 before the process exits.
        sessions.close();
        sessions.wait().await;
        let _ = heartbeat.await;
        let _ = lease_renewal.await;
        let _ = revocations.await;
        let _ = webhooks.await;
        if let Some(server) = metrics_server {
            server.await.context("the metrics server")?.context("serving metrics")?;
        }
        tracing::info!("chat-node stopped");
        Ok(())
    }
}

/// Beats every third of `ttl` until shutdown, so this node's presence outlives a missed beat.
async fn presence_heartbeat(
    presence: Arc<PresenceService>,
    ttl: std::time::Duration,
    stop: CancellationToken,
) {
    let mut beat = tokio::time::interval((ttl / 3).max(std::time::Duration::from_millis(100)));
    loop {
        tokio::select! {
            _ = beat.tick() => presence.heartbeat(ttl).await,
            () = stop.cancelled() => return,
        }
    }
}

/// Renews the membership leases this node's senders rely on every half lease, each a quarter
/// of a lease before it would end, until shutdown: steady senders' sends then never wait for
/// the database, which sees one query per renewal instead of one per sender and lease.
async fn renew_membership_leases(
    rooms: Arc<RoomService>,
    lease: std::time::Duration,
    stop: CancellationToken,
) {
    if lease.is_zero() {
        return;
    }
    let mut renewal = tokio::time::interval(lease / 2);
    renewal.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = renewal.tick() => {}
            () = stop.cancelled() => return,
        }
        if let Err(err) = rooms.renew_leases(lease * 3 / 4).await {
            tracing::debug!(error = %err, "membership leases not renewed; sends check on their own");
        }
    }
}

/// The task that acts on the announcements of ended logins until shutdown, subscribed before
/// this returns so that the node hears of every login that ends while it serves.
async fn follow_revocations(state: &AppState) -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    let follow = state.revocations.follow().await.context("subscribing to ended logins")?;
    let stop = state.shutdown.clone();
    Ok(async move {
        tokio::select! {
            () = follow => tracing::warn!("the announcements of ended logins stopped"),
            () = stop.cancelled() => {}
        }
    })
}

/// `chat-node migrate`: applies pending migrations to the mode's database and exits.
pub async fn migrate(config: &NodeConfig) -> anyhow::Result<()> {
    match config.mode()? {
        Mode::Cluster(urls) => cluster::migrate(config, &urls).await?,
        Mode::Embedded => embedded::migrate(config).await?,
    }
    tracing::info!("migrations applied");
    Ok(())
}

/// Runs an administration command with the node's settings: grants or revokes the
/// administrator role of a user, recorded in the audit log.
pub async fn administer(config: &NodeConfig, command: AdminCommand) -> anyhow::Result<()> {
    let (users, audit) = match config.mode()? {
        Mode::Cluster(urls) => cluster::admin_stores(config, &urls).await?,
        Mode::Embedded => embedded::admin_stores(config).await?,
    };
    let grants = RoleGrants::new(users, audit, Arc::new(SystemClock));
    let (raw, role) = match &command {
        AdminCommand::Grant { username } => (username, UserRole::Admin),
        AdminCommand::Revoke { username } => (username, UserRole::User),
    };
    let username = Username::parse(raw).map_err(|why| anyhow::anyhow!("{raw:?} is not a username: {why}"))?;
    match grants.set_role(&username, role).await {
        Ok(user) => {
            println!("{} ({}) is now {}", user.username.as_str(), user.id, role.as_str());
            Ok(())
        }
        Err(chat_shared::error::Error::NotFound(_)) => anyhow::bail!("no user named {raw:?}"),
        Err(err) => Err(anyhow::anyhow!("{err}")),
    }
}

/// The use cases over the chosen adapters, on `clock`: the same in every mode. With them, the
/// worker that delivers webhooks, for the node to run while it serves.
fn assemble(
    config: &NodeConfig,
    backends: Backends,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(AppState, WebhookWorker)> {
    let access_ttl = chrono::Duration::from_std(config.access_token_ttl).context("access token ttl")?;
    let refresh_ttl = chrono::Duration::from_std(config.refresh_token_ttl).context("refresh token ttl")?;
    let issuer: Arc<dyn TokenIssuer> = Arc::new(JwtIssuer::new(&backends.jwt_secret, access_ttl));
    let concurrency = config
        .hash_concurrency
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let hasher = Argon2Hasher::new(
        config.argon2_memory_kib,
        config.argon2_iterations,
        concurrency,
        config.hash_niceness,
    )
    .map_err(|e| anyhow::anyhow!("invalid Argon2 settings: {e}"))?;
    let presence = Arc::new(PresenceService::new(
        backends.presence.clone(),
        backends.events.clone(),
        PresenceSettings {
            grace: config.presence_grace,
            count_threshold: config.presence_count_threshold,
            typing_interval: std::time::Duration::from_secs(2),
        },
    ));
    let local_limits: Arc<dyn RateLimiter> = Arc::new(MemoryRateLimiter::new(clock.clone()));
    let webhooks = Arc::new(WebhookOutbox::new(backends.webhooks.clone(), clock.clone()));
    let message_webhooks = Arc::new(MessageWebhooks::new(
        backends.new_messages.clone(),
        backends.rooms.clone(),
        backends.presence.clone(),
        webhooks.clone(),
    ));
    let rooms = Arc::new(RoomService::new(
        RoomPorts {
            rooms: backends.rooms,
            users: backends.users.clone(),
            events: backends.events.clone(),
            feed: backends.feed.clone(),
            webhooks: webhooks.clone(),
            clock: clock.clone(),
        },
        MembershipLeases::new(config.membership_lease),
    ));
    let sockets_by_login = Arc::new(SocketsByLogin::default());
    let revocations = Arc::new(LoginRevocations::new(
        backends.revoked,
        backends.announcements,
        sockets_by_login.clone(),
        clock.clone(),
        access_ttl,
    ));
    let messages = Arc::new(MessageService::new(
        rooms.clone(),
        backends.log.clone(),
        backends.messages,
        clock.clone(),
        config.max_replay.max(1),
    ));
    let hub = Hub::new(backends.live, backends.log, backends.events).quoting(messages.clone());
    let worker =
        webhook_worker(config, backends.webhooks.clone(), &webhooks, message_webhooks, clock.clone())?;
    let state = AppState {
        auth: Arc::new(AuthService::new(
            AuthPorts {
                users: backends.users.clone(),
                tokens: backends.tokens.clone(),
                hasher: Arc::new(hasher),
                issuer: issuer.clone(),
                revocations: revocations.clone(),
                clock: clock.clone(),
            },
            refresh_ttl,
        )),
        admin: Arc::new(AdminService::new(AdminPorts {
            users: backends.users.clone(),
            audit: backends.audit,
            tokens: backends.tokens.clone(),
            revocations: revocations.clone(),
            messages: messages.clone(),
            api_keys: backends.api_keys,
            webhooks: webhooks.clone(),
            webhook_hosts: WebhookHosts::only(&config.webhook_hosts),
            clock: clock.clone(),
        })),
        users: Arc::new(UserService::new(backends.users)),
        rooms,
        messages: messages.clone(),
        presence,
        limits: Arc::new(AbuseLimits::new(
            backends.limiter.unwrap_or_else(|| local_limits.clone()),
            local_limits,
            config.limits.settings(),
        )),
        trusted_proxies: Arc::new(config.limits.trusted_proxies()),
        hub: hub.clone(),
        feeds: Feeds::new(backends.feed).counting_unread(UnreadCounting {
            hub,
            messages: messages.clone(),
            every: config.unread_interval,
        }),
        ws: Arc::new(config.ws_settings()),
        connections: Arc::new(Connections::new(config.max_connections, config.max_connections_per_user)),
        revocations,
        sockets_by_login,
        sessions: TaskTracker::new(),
        shutdown: CancellationToken::new(),
        issuer,
        clock,
        readiness: Arc::new(Readiness::new(backends.required, backends.optional)),
        metrics: telemetry::metrics_handle(),
    };
    Ok((state, worker))
}

/// The workers that make the events of new messages and deliver the outbox's webhooks, on
/// the configured schedule.
fn webhook_worker(
    config: &NodeConfig,
    store: Arc<dyn chat_shared::ports::WebhookStore>,
    outbox: &WebhookOutbox,
    messages: Arc<MessageWebhooks>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<WebhookWorker> {
    let sender =
        HttpWebhookSender::new(config.webhook_timeout).context("building the webhook HTTP client")?;
    let policy = RetryPolicy {
        base: config.webhook_retry_base,
        retry_for: config.webhook_retry_for,
        ..RetryPolicy::DEFAULT
    };
    // A claim outlasts the attempt's time limit with room to record its outcome.
    let lease = config.webhook_timeout * 2 + std::time::Duration::from_secs(5);
    let dispatcher = WebhookDispatcher::new(store, Arc::new(sender), clock, policy, lease);
    Ok(WebhookWorker::new(Arc::new(dispatcher), outbox.enqueued(), messages))
}
