//! The persister: a durable consumer of the message stream that writes each message to
//! PostgreSQL exactly once, in batches, acknowledging only what is committed.

mod consume;

use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chat_adapters::config::{NatsAccessArgs, StreamArgs, readable_file};
use chat_adapters::nats::{DurableConsumer, NatsLog};
use chat_adapters::postgres::{self, PgMessageStore, PgProbe};
use chat_adapters::readiness::Readiness;
use chat_adapters::secret::Secret;
use chat_adapters::telemetry::LogFormat;
use chat_adapters::{runtime, telemetry};
use chat_shared::ports::Probe;
use clap::Parser;
use tokio::net::TcpListener;

pub use consume::ConsumeSettings;

#[derive(Debug, Parser)]
#[command(name = "chat-persister", version, about = "Writes the chat message stream to PostgreSQL")]
pub struct Cli {
    /// Address for /healthz, /readyz and /metrics.
    #[arg(long, env = "CHAT_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,

    /// Name of this persister in logs and metrics [default: generated].
    #[arg(long, env = "CHAT_NODE_ID")]
    pub node_id: Option<String>,

    /// NATS server(s), comma separated; `tls://` requires TLS.
    #[arg(long, env = "NATS_URL", hide_env_values = true)]
    pub nats_url: Secret,

    #[command(flatten)]
    pub nats_access: NatsAccessArgs,

    /// PostgreSQL URL; `sslmode` and `sslrootcert` in it choose TLS as libpq's do.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Secret,

    /// PEM file of the certificate authorities PostgreSQL's certificate must chain to (as
    /// `sslrootcert`); the certificate and host name are then checked (`verify-full`) unless
    /// the URL asks for `sslmode=verify-ca`.
    #[arg(long, env = "DATABASE_CA_FILE", value_parser = readable_file)]
    pub database_ca_file: Option<PathBuf>,

    #[command(flatten)]
    pub stream: StreamArgs,

    /// Durable consumer name; persisters with the same name share the work.
    #[arg(long, env = "CHAT_PERSISTER_CONSUMER", default_value = "persister")]
    pub consumer: String,

    /// Most messages written in one transaction.
    #[arg(long, env = "CHAT_PERSISTER_BATCH", default_value_t = 500)]
    pub batch_size: usize,

    /// Batches written to PostgreSQL at once (each on its own connection, so at most
    /// `--db-max-connections` help).
    #[arg(long, env = "CHAT_PERSISTER_WRITERS", default_value_t = 4)]
    pub writers: usize,

    /// How long a fetch waits for a batch to fill.
    #[arg(long, env = "CHAT_PERSISTER_FETCH_WAIT", default_value = "50ms", value_parser = humantime::parse_duration)]
    pub fetch_wait: Duration,

    /// How long a fetched message may stay unacknowledged before the stream hands it to another
    /// persister: how soon a crashed persister's batch is written by the others.
    #[arg(long, env = "CHAT_PERSISTER_ACK_WAIT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub ack_wait: Duration,

    /// PostgreSQL connections in the pool.
    #[arg(long, env = "CHAT_DB_MAX_CONNECTIONS", default_value_t = 4)]
    pub db_max_connections: u32,

    /// Log format; any other value is refused at start.
    #[arg(long, env = "CHAT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Threads that fetch, decode and write batches [default: number of CPUs].
    #[arg(long, env = "CHAT_WORKER_THREADS")]
    pub worker_threads: Option<NonZeroUsize>,
}

/// The command line: reads the configuration, sets up telemetry, and runs until SIGTERM. A
/// library function so that tests can run the very same entry point as a process.
pub fn cli_main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let (worker_threads, log_format) = (cli.worker_threads, cli.log_format);
    runtime::main("chat-persister", worker_threads, log_format, async move {
        Persister::build(cli).await?.run_until(telemetry::shutdown_signal()).await
    })
}

pub struct Persister {
    listener: TcpListener,
    consumer: DurableConsumer,
    log: NatsLog,
    store: Arc<PgMessageStore>,
    readiness: Arc<Readiness>,
    settings: ConsumeSettings,
}

impl Persister {
    pub async fn build(cli: Cli) -> anyhow::Result<Self> {
        // Installed before the first batch, so nothing counted before the first scrape is lost.
        telemetry::metrics_handle();
        let session_name =
            cli.node_id.as_ref().map_or("chat-persister".into(), |id| format!("chat-persister {id}"));
        let pool = postgres::connect_lazy_trusting(
            cli.database_url.expose(),
            cli.database_ca_file.as_deref(),
            cli.db_max_connections,
            &session_name,
        )
        .context("DATABASE_URL (--database-url) is not a valid PostgreSQL URL")?;
        postgres::migrate(&pool).await.context(
            "connecting to PostgreSQL (DATABASE_URL, --database-url) and applying database migrations",
        )?;
        let nats = NatsLog::connect_with(
            cli.nats_url.expose(),
            &cli.nats_access.access(),
            &cli.stream.stream_prefix,
            cli.stream.settings(),
        )
        .await
        .context("connecting to NATS (NATS_URL, --nats-url)")?;
        // Unlimited deliveries: a message is only ever dropped deliberately (poison), never
        // because PostgreSQL was down longer than some retry budget.
        let consumer = nats
            .durable_consumer(&cli.consumer, cli.ack_wait, -1)
            .await
            .context("creating the durable consumer")?;
        let probes: Vec<Arc<dyn Probe>> = vec![Arc::new(PgProbe(pool.clone())), Arc::new(nats.probe())];
        let listener = TcpListener::bind(cli.listen)
            .await
            .with_context(|| format!("binding {} (--listen)", cli.listen))?;
        let node_id = cli.node_id.clone().unwrap_or_else(|| "persister".into());
        tracing::info!(node_id, consumer = %cli.consumer, "persister ready");
        Ok(Self {
            listener,
            consumer,
            log: nats,
            store: Arc::new(PgMessageStore::new(pool)),
            readiness: Arc::new(Readiness::new(probes, Vec::new())),
            settings: ConsumeSettings {
                batch_size: cli.batch_size.max(1),
                fetch_wait: cli.fetch_wait,
                writers: cli.writers.max(1),
            },
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Consumes until `shutdown` resolves; the batches in hand are finished first.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let router = Router::new()
            .route("/healthz", get(|| async { Json(serde_json::json!({ "status": "ok" })) }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(|| async { telemetry::metrics_handle().render() }))
            .with_state(self.readiness.clone());
        let mut http_stop = stop_rx.clone();
        let http = tokio::spawn(
            axum::serve(self.listener, router)
                .with_graceful_shutdown(async move {
                    let _ = http_stop.wait_for(|stop| *stop).await;
                })
                .into_future(),
        );
        let consuming =
            tokio::spawn(consume::run(self.consumer, self.store, self.log, self.settings, stop_rx));
        shutdown.await;
        let _ = stop_tx.send(true);
        consuming.await.context("the consumer task failed")?;
        let _ = http.await;
        tracing::info!("persister stopped");
        Ok(())
    }
}

async fn readyz(State(readiness): State<Arc<Readiness>>) -> Response {
    match readiness.check().await {
        Ok(_) => Json(serde_json::json!({ "status": "ready" })).into_response(),
        Err(why) => {
            let body = serde_json::json!({ "error": { "code": "unavailable", "message": why.to_string() } });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}
