//! Every setting is a flag and an environment variable; the flag wins.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use chat_adapters::config::{NatsAccessArgs, readable_file};
pub use chat_adapters::secret::Secret;
use chat_adapters::telemetry::LogFormat;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "chat-node",
    version,
    about = "Connection node of the chat cluster",
    after_help = "With none of NATS_URL, DATABASE_URL and REDIS_URL the node runs embedded: one \
                  process keeping everything in an SQLite database in --data-dir. With all three \
                  it is a stateless node of a cluster. Any other mix is an error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: NodeConfig,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending database migrations and exit: PostgreSQL's in cluster mode, the data
    /// folder's SQLite database in embedded mode.
    Migrate,
    /// Administer the deployment from the command line, with the node's settings (its
    /// database), and exit.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Make a user an administrator (written to the audit log).
    Grant {
        /// The user's username (any case).
        username: String,
    },
    /// Make an administrator a plain user again (written to the audit log).
    Revoke {
        /// The user's username (any case).
        username: String,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct NodeConfig {
    /// Address to bind for REST, WebSocket and metrics.
    #[arg(long, env = "CHAT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Address to serve `/metrics` on instead of --listen, so the public port does not show
    /// them [default: on --listen].
    #[arg(long, env = "CHAT_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// WebSockets this node holds at most; beyond it an upgrade is refused with 503 and
    /// Retry-After, and the sockets it holds are unaffected. 0 = no cap.
    #[arg(long, env = "CHAT_MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: usize,

    /// WebSockets one user holds on this node at most; beyond it a new one is closed with
    /// 4029. 0 = no cap.
    #[arg(long, env = "CHAT_MAX_CONNECTIONS_PER_USER", default_value_t = 0)]
    pub max_connections_per_user: u32,

    /// How often a WebSocket that has been quiet is pinged; one that sends nothing, not even
    /// the pong, until the next ping is closed and its presence ends. 0 = never.
    #[arg(long, env = "CHAT_WS_PING_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub ws_ping_interval: Duration,

    /// Name of this node in logs, metrics and presence [default: generated].
    #[arg(long, env = "CHAT_NODE_ID")]
    pub node_id: Option<String>,

    /// NATS server(s), comma separated (cluster mode); `tls://` requires TLS.
    #[arg(long, env = "NATS_URL", hide_env_values = true)]
    pub nats_url: Option<Secret>,

    #[command(flatten)]
    pub nats_access: NatsAccessArgs,

    /// PostgreSQL URL (cluster mode); `sslmode` and `sslrootcert` in it choose TLS as libpq's do.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,

    /// PEM file of the certificate authorities PostgreSQL's certificate must chain to (as
    /// `sslrootcert`); the certificate and host name are then checked (`verify-full`) unless
    /// the URL asks for `sslmode=verify-ca`.
    #[arg(long, env = "DATABASE_CA_FILE", value_parser = readable_file)]
    pub database_ca_file: Option<PathBuf>,

    /// Redis URL (cluster mode); `rediss://` for TLS.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<Secret>,

    /// PEM file of the certificate authorities Redis' certificate must chain to, instead of the
    /// system's; needs a `rediss://` URL.
    #[arg(long, env = "REDIS_CA_FILE", value_parser = readable_file)]
    pub redis_ca_file: Option<PathBuf>,

    /// HS256 key shared by all nodes, at least 32 bytes. Required in cluster mode; without it,
    /// embedded mode generates one once and keeps it in the data folder.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// Sends per second allowed per connection; 0 = unlimited.
    #[arg(long, env = "CHAT_SEND_RATE", default_value_t = 20)]
    pub send_rate: u32,

    /// Burst of sends allowed above the rate.
    #[arg(long, env = "CHAT_SEND_BURST", default_value_t = 50)]
    pub send_burst: u32,

    /// Embedded mode's data folder: the database (`chat.db`) and the generated JWT key
    /// (`jwt.key`). Created if missing, readable by the owner only.
    #[arg(long, env = "CHAT_DATA_DIR", default_value = "./chat-data")]
    pub data_dir: PathBuf,

    /// Lifetime of access tokens.
    #[arg(long, env = "CHAT_ACCESS_TOKEN_TTL", default_value = "15m", value_parser = humantime::parse_duration)]
    pub access_token_ttl: Duration,

    /// Lifetime of refresh tokens.
    #[arg(long, env = "CHAT_REFRESH_TOKEN_TTL", default_value = "30days", value_parser = humantime::parse_duration)]
    pub refresh_token_ttl: Duration,

    /// Origins allowed to call the API from a browser, comma separated; `*` for any. Empty:
    /// same origin only.
    #[arg(long, env = "CHAT_CORS_ORIGINS", value_delimiter = ',', default_value = "")]
    pub cors_origins: Vec<String>,

    /// Largest REST request body, in bytes.
    #[arg(long, env = "CHAT_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,

    /// Time limit for one REST request.
    #[arg(long, env = "CHAT_REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// PostgreSQL connections in this node's pool (cluster mode).
    #[arg(long, env = "CHAT_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,

    /// Argon2id memory cost in KiB (OWASP recommends at least 19456).
    #[arg(long, env = "CHAT_ARGON2_MEMORY_KIB", default_value_t = 19456)]
    pub argon2_memory_kib: u32,

    /// Argon2id iterations.
    #[arg(long, env = "CHAT_ARGON2_ITERATIONS", default_value_t = 2)]
    pub argon2_iterations: u32,

    /// Password hashes computed at once, each on a thread of lower CPU priority than the rest
    /// of the node [default: number of CPUs].
    #[arg(long, env = "CHAT_HASH_CONCURRENCY")]
    pub hash_concurrency: Option<usize>,

    /// How much lower than the node's the hashing threads' CPU priority is (Linux niceness, 0
    /// to 19): higher keeps messages fast while logins queue for the CPU left over; 0 shares
    /// the CPU evenly between them.
    #[arg(long, env = "CHAT_HASH_NICENESS", default_value_t = chat_adapters::argon2::DEFAULT_HASH_NICENESS,
          value_parser = clap::value_parser!(u8).range(0..=19))]
    pub hash_niceness: u8,

    #[command(flatten)]
    pub stream: chat_adapters::config::StreamArgs,

    /// The persisters' durable consumer (their `--consumer`): its acknowledgements tell the
    /// node which entries of the stream PostgreSQL holds, changes applied.
    #[arg(long, env = "CHAT_PERSISTER_CONSUMER", default_value = "persister")]
    pub persister_consumer: String,

    #[command(flatten)]
    pub limits: crate::abuse_limits::AbuseLimitArgs,

    /// How long a node trusts a sender's membership it checked, before asking the database
    /// again. Removing someone else from a room is answered this long after it is stored, so
    /// that no node accepts their sends after the answer. The leases of members who are
    /// sending are renewed together, in one query every half lease. 0 checks every send.
    #[arg(long, env = "CHAT_MEMBERSHIP_LEASE", default_value = "2s", value_parser = humantime::parse_duration)]
    pub membership_lease: Duration,

    /// Most missed messages one `join` with `since` returns; beyond it, `recovered` is false.
    #[arg(long, env = "CHAT_MAX_REPLAY", default_value_t = 10_000)]
    pub max_replay: usize,

    /// Largest WebSocket frame in bytes (larger: close 1009).
    #[arg(long, env = "CHAT_MAX_FRAME_BYTES", default_value_t = 64 * 1024)]
    pub max_frame_bytes: usize,

    /// Frames queued for one connection before it counts as too slow (close 4002).
    #[arg(long, env = "CHAT_OUTBOUND_QUEUE", default_value_t = 1024)]
    pub outbound_queue: usize,

    /// Sends, edits, deletions and reactions of one connection awaiting acknowledgement at once.
    #[arg(long, env = "CHAT_MAX_SENDS_IN_FLIGHT", default_value_t = 64)]
    pub max_sends_in_flight: usize,

    /// Prefix of this deployment's Redis keys.
    #[arg(long, env = "CHAT_REDIS_PREFIX", default_value = "chat")]
    pub redis_prefix: String,

    /// How long a node's presence entries outlive its last heartbeat (it beats every third of
    /// this): the longest a dead node's users stay online.
    #[arg(long, env = "CHAT_PRESENCE_TTL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub presence_ttl: Duration,

    /// How long a user stays online after their last connection closes, so a quick reconnect
    /// does not flap.
    #[arg(long, env = "CHAT_PRESENCE_GRACE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub presence_grace: Duration,

    /// Online users above which a room's presence is only a count, without per-user events.
    #[arg(long, env = "CHAT_PRESENCE_COUNT_THRESHOLD", default_value_t = 1000)]
    pub presence_count_threshold: u64,

    /// The shortest time between two `unread` events of one room to one user: a busy room's
    /// count is sent as it stands at most once per this.
    #[arg(long, env = "CHAT_UNREAD_INTERVAL", default_value = "500ms", value_parser = humantime::parse_duration)]
    pub unread_interval: Duration,

    /// The first wait before a failed webhook delivery is attempted again; each later wait
    /// doubles (with jitter) up to an hour.
    #[arg(long, env = "CHAT_WEBHOOK_RETRY_BASE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub webhook_retry_base: Duration,

    /// How long failed webhook deliveries are retried before they are given up (the last
    /// attempt is made at or after this age).
    #[arg(long, env = "CHAT_WEBHOOK_RETRY_FOR", default_value = "24h", value_parser = humantime::parse_duration)]
    pub webhook_retry_for: Duration,

    /// The only hosts webhooks may be registered for (names or addresses, IPv6 ones in
    /// brackets), comma separated; empty: any. Keeps an administrator's account from being
    /// used to make the nodes call into the private network.
    #[arg(long, env = "CHAT_WEBHOOK_HOSTS", value_delimiter = ',', default_value = "")]
    pub webhook_hosts: Vec<String>,

    /// Time limit of one webhook attempt, connecting included; no answer by then is a failure.
    #[arg(long, env = "CHAT_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub webhook_timeout: Duration,

    /// How long a node may hold a new message of the stream, making its `message.created`,
    /// before another node is handed it: the ack wait of the nodes' shared consumer, which
    /// every node of a cluster should be started with alike.
    #[arg(long, env = "CHAT_WEBHOOK_ACK_WAIT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub webhook_ack_wait: Duration,

    /// Log format; any other value is refused at start.
    #[arg(long, env = "CHAT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Threads that run connections, requests and the fan-out [default: number of CPUs].
    /// Fewer wake each other less: on a machine shared with the brokers, fewer threads use
    /// less CPU per message at some cost in tail latency.
    #[arg(long, env = "CHAT_WORKER_THREADS")]
    pub worker_threads: Option<NonZeroUsize>,
}

/// The URLs of a cluster node's backing services.
#[derive(Debug, Clone)]
pub struct ClusterUrls {
    pub nats: Secret,
    pub database: Secret,
    pub redis: Secret,
}

/// A configuration that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "a cluster node needs NATS_URL, DATABASE_URL and REDIS_URL together (set none of them for \
         embedded mode); missing: {0}"
    )]
    PartialCluster(String),
    #[error("JWT_SECRET (--jwt-secret) is required in cluster mode, shared by all nodes")]
    NoJwtSecret,
    #[error("JWT_SECRET (--jwt-secret) must be at least 32 bytes")]
    ShortJwtSecret,
}

/// How the node runs, decided by which service URLs are set.
#[derive(Debug)]
pub enum Mode {
    /// No service URLs: one self-contained process.
    Embedded,
    /// All three: a stateless node of a cluster.
    Cluster(ClusterUrls),
}

/// Limits of one WebSocket connection, taken from the node's configuration.
#[derive(Debug, Clone)]
pub struct WsSettings {
    pub max_frame_bytes: usize,
    /// Frames a connection may have queued before it counts as too slow (closed with 4002).
    pub outbound_queue: usize,
    /// Sends per second; 0 = unlimited.
    pub send_rate: u32,
    pub send_burst: u32,
    /// Sends, edits, deletions and reactions of one connection awaiting their acknowledgement at once.
    pub max_sends_in_flight: usize,
    /// How often a quiet connection is pinged; zero for never.
    pub ping_interval: Duration,
}

impl NodeConfig {
    /// Decides the mode; a partial set of URLs is an error that names what is missing.
    pub fn mode(&self) -> Result<Mode, ConfigError> {
        let set = |url: &Option<Secret>| url.clone().filter(|s| !s.expose().trim().is_empty());
        let (nats, database, redis) = (set(&self.nats_url), set(&self.database_url), set(&self.redis_url));
        match (nats, database, redis) {
            (None, None, None) => Ok(Mode::Embedded),
            (Some(nats), Some(database), Some(redis)) => {
                Ok(Mode::Cluster(ClusterUrls { nats, database, redis }))
            }
            (nats, database, redis) => {
                let missing: Vec<&'static str> = [
                    nats.is_none().then_some("NATS_URL (--nats-url)"),
                    database.is_none().then_some("DATABASE_URL (--database-url)"),
                    redis.is_none().then_some("REDIS_URL (--redis-url)"),
                ]
                .into_iter()
                .flatten()
                .collect();
                Err(ConfigError::PartialCluster(missing.join(", ")))
            }
        }
    }

    /// The JWT key of a cluster node: required, and long enough for HS256.
    pub fn cluster_jwt_secret(&self) -> Result<&[u8], ConfigError> {
        let secret = self.jwt_secret.as_ref().ok_or(ConfigError::NoJwtSecret)?;
        if secret.expose().len() < 32 {
            return Err(ConfigError::ShortJwtSecret);
        }
        Ok(secret.expose().as_bytes())
    }

    pub fn ws_settings(&self) -> WsSettings {
        WsSettings {
            max_frame_bytes: self.max_frame_bytes,
            outbound_queue: self.outbound_queue,
            send_rate: self.send_rate,
            send_burst: self.send_burst,
            max_sends_in_flight: self.max_sends_in_flight.max(1),
            ping_interval: self.ws_ping_interval,
        }
    }

    pub fn node_id(&self) -> String {
        self.node_id
            .clone()
            .unwrap_or_else(|| format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> NodeConfig {
        let mut argv = vec!["chat-node"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap().config
    }

    #[test]
    fn no_service_urls_means_embedded_mode() {
        assert!(matches!(parse(&[]).mode(), Ok(Mode::Embedded)));
    }

    #[test]
    fn all_three_urls_mean_a_cluster_node() {
        let config =
            parse(&["--nats-url", "nats://a", "--database-url", "postgres://b", "--redis-url", "redis://c"]);
        assert!(matches!(config.mode(), Ok(Mode::Cluster(_))));
    }

    #[test]
    fn a_partial_set_of_urls_names_what_is_missing() {
        let err = parse(&["--database-url", "postgres://b"]).mode().unwrap_err().to_string();
        assert!(
            err.contains("NATS_URL") && err.contains("REDIS_URL") && !err.contains("missing: DATABASE_URL")
        );
    }

    #[test]
    fn a_malformed_setting_is_a_clear_error() {
        let err = Cli::try_parse_from(["chat-node", "--listen", "nowhere"]).unwrap_err().to_string();
        assert!(err.contains("--listen"), "{err}");
        let err = Cli::try_parse_from(["chat-node", "--send-rate", "lots"]).unwrap_err().to_string();
        assert!(err.contains("--send-rate"), "{err}");
        let err = Cli::try_parse_from(["chat-node", "--worker-threads", "0"]).unwrap_err().to_string();
        assert!(err.contains("--worker-threads"), "{err}");
    }

    #[test]
    fn an_unknown_log_format_is_refused_not_taken_for_text() {
        assert_eq!(parse(&[]).log_format, LogFormat::Text);
        assert_eq!(parse(&["--log-format", "json"]).log_format, LogFormat::Json);
        let err = Cli::try_parse_from(["chat-node", "--log-format", "jsno"]).unwrap_err().to_string();
        assert!(err.contains("--log-format") && err.contains("json"), "{err}");
    }

    #[test]
    fn a_certificate_file_that_cannot_be_read_is_a_clear_error() {
        for flag in ["--database-ca-file", "--redis-ca-file", "--nats-ca-file"] {
            let err = Cli::try_parse_from(["chat-node", flag, "/no/such/ca.pem"]).unwrap_err().to_string();
            assert!(err.contains(flag) && err.contains("/no/such/ca.pem"), "{err}");
        }
    }

    #[test]
    fn a_short_or_missing_jwt_secret_is_refused() {
        assert!(matches!(parse(&[]).cluster_jwt_secret(), Err(ConfigError::NoJwtSecret)));
        assert!(matches!(
            parse(&["--jwt-secret", "short"]).cluster_jwt_secret(),
            Err(ConfigError::ShortJwtSecret)
        ));
        assert!(parse(&["--jwt-secret", &"k".repeat(32)]).cluster_jwt_secret().is_ok());
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let config = parse(&[
            "--jwt-secret",
            "super-secret-value-that-is-long-enough",
            "--database-url",
            "postgres://u:pw@h/db",
            "--redis-url",
            "rediss://:redis-pw@h",
            "--nats-url",
            "tls://u:nats-url-pw@h",
            "--nats-user",
            "u",
            "--nats-password",
            "nats-pw",
        ]);
        let shown = format!("{config:?}");
        for secret in ["super-secret", "pw@h", "redis-pw", "nats-url-pw", "nats-pw"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        let token = format!("{:?}", parse(&["--nats-token", "t0ken-value"]));
        assert!(!token.contains("t0ken-value"), "{token}");
    }
}
