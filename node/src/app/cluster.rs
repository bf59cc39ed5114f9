//! Cluster mode: a stateless node over PostgreSQL, NATS JetStream and Redis.

use std::sync::Arc;

use anyhow::Context;
use chat_adapters::jetstream::JetStreamLog;
use chat_adapters::jetstream_new_messages::JetStreamNewMessages;
use chat_adapters::nats::{NatsEvents, NatsLog, NatsLoginAnnouncements, NatsUserFeed};
use chat_adapters::postgres::{
    self, PgApiKeyStore, PgAuditLog, PgMessageStore, PgPool, PgProbe, PgRefreshTokenStore, PgRoomStore,
    PgUserStore, PgWebhookStore,
};
use chat_adapters::redis::RedisPresence;
use chat_adapters::redis_logins::RedisRevokedLogins;

use chat_shared::ports::{AuditLog, UserStore};

use super::backends::Backends;
use crate::config::{ClusterUrls, NodeConfig};

/// The nodes' durable consumer of the message stream for `message.created`.
const WEBHOOK_CONSUMER: &str = "webhooks";

/// Connects to the cluster's services and applies the database's pending migrations.
pub(super) async fn connect(
    config: &NodeConfig,
    urls: &ClusterUrls,
    node_id: &str,
) -> anyhow::Result<Backends> {
    let jwt_secret = config.cluster_jwt_secret()?.to_vec();
    let session_name = format!("chat-node {node_id}");
    let pool = connect_database(config, urls, config.db_max_connections, &session_name)?;
    postgres::migrate(&pool).await.context(
        "connecting to PostgreSQL (DATABASE_URL, --database-url) and applying database migrations",
    )?;
    let nats = NatsLog::connect_with(
        urls.nats.expose(),
        &config.nats_access.access(),
        &config.stream.stream_prefix,
        config.stream.settings(),
    )
    .await
    .context("connecting to NATS (NATS_URL, --nats-url) and preparing the message stream")?;
    let log = Arc::new(JetStreamLog::new(nats.clone(), &config.persister_consumer));
    let redis = RedisPresence::connect_trusting(
        urls.redis.expose(),
        config.redis_ca_file.as_deref(),
        &config.redis_prefix,
        node_id,
    )
    .await
    .context("connecting to Redis (REDIS_URL, --redis-url)")?;
    Ok(Backends {
        users: Arc::new(PgUserStore::new(pool.clone())),
        audit: Arc::new(PgAuditLog::new(pool.clone())),
        api_keys: Arc::new(PgApiKeyStore::new(pool.clone())),
        webhooks: Arc::new(PgWebhookStore::new(pool.clone())),
        new_messages: Arc::new(JetStreamNewMessages::new(
            nats.clone(),
            WEBHOOK_CONSUMER,
            config.webhook_ack_wait,
        )),
        tokens: Arc::new(PgRefreshTokenStore::new(pool.clone())),
        rooms: Arc::new(PgRoomStore::new(pool.clone())),
        messages: Arc::new(PgMessageStore::new(pool.clone())),
        log: log.clone(),
        live: log,
        presence: Arc::new(redis.clone()),
        events: Arc::new(NatsEvents::new(nats.clone())),
        feed: Arc::new(NatsUserFeed::new(nats.clone())),
        limiter: Some(Arc::new(redis.rate_limiter())),
        revoked: Arc::new(RedisRevokedLogins::sharing(&redis)),
        announcements: Arc::new(NatsLoginAnnouncements::new(nats.clone())),
        jwt_secret,
        required: vec![Arc::new(PgProbe(pool)), Arc::new(nats.probe())],
        optional: vec![Arc::new(redis.probe())],
    })
}

/// The stores the command line administers, over the cluster's database (migrated first).
pub(super) async fn admin_stores(
    config: &NodeConfig,
    urls: &ClusterUrls,
) -> anyhow::Result<(Arc<dyn UserStore>, Arc<dyn AuditLog>)> {
    let pool = connect_database(config, urls, 1, "chat-node admin")?;
    postgres::migrate(&pool).await.context(
        "connecting to PostgreSQL (DATABASE_URL, --database-url) and applying database migrations",
    )?;
    Ok((Arc::new(PgUserStore::new(pool.clone())), Arc::new(PgAuditLog::new(pool))))
}

/// Applies the PostgreSQL database's pending migrations.
pub(super) async fn migrate(config: &NodeConfig, urls: &ClusterUrls) -> anyhow::Result<()> {
    let pool = connect_database(config, urls, 1, "chat-node migrate")?;
    postgres::migrate(&pool)
        .await
        .context("connecting to PostgreSQL (DATABASE_URL, --database-url) and applying database migrations")
}

/// The pool of the cluster's database; connections are made when first needed.
fn connect_database(
    config: &NodeConfig,
    urls: &ClusterUrls,
    max_connections: u32,
    session_name: &str,
) -> anyhow::Result<PgPool> {
    postgres::connect_lazy_trusting(
        urls.database.expose(),
        config.database_ca_file.as_deref(),
        max_connections,
        session_name,
    )
    .context("DATABASE_URL (--database-url) is not a valid PostgreSQL URL")
}
