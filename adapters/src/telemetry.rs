//! Logs, metrics and process signals, the same for every binary of the cluster.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), as text or JSON lines.
/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per event, for log collectors.
    Json,
}

pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second initialisation (several nodes in one test process) keeps the first.
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The process-wide Prometheus recorder; installed on first use, shared by every server in
/// the process.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
                )
                .expect("bucket list is not empty")
                .install_recorder()
                .expect("the metrics recorder is installed once per process");
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .expect("spawning the metrics upkeep thread");
            describe();
            metrics::gauge!(
                "chat_build_info",
                "version" => env!("CARGO_PKG_VERSION"),
                "commit" => env!("CHAT_GIT_COMMIT"),
            )
            .set(1.0);
            handle
        })
        .clone()
}

/// The `# HELP` text of every metric the binaries export; `docs/metrics.md` says more.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!("chat_build_info", "Always 1; the labels name the version and commit running");
    describe_counter!("http_requests_total", "REST requests answered, by method, route and status");
    describe_histogram!(
        "http_request_duration_seconds",
        "Time to answer a REST request, by method and route"
    );
    describe_gauge!("chat_ws_connections", "WebSocket sessions open on this node");
    describe_gauge!("chat_ws_joined_rooms", "Connection-room subscriptions on this node");
    describe_gauge!("chat_rooms_followed", "Rooms whose live feed this node follows");
    describe_gauge!(
        "chat_user_feeds_followed",
        "Users whose feed this node follows (users with a socket here)"
    );
    describe_counter!("chat_ws_frames_in_total", "WebSocket frames received");
    describe_counter!("chat_ws_frames_out_total", "WebSocket frames written");
    describe_counter!("chat_ws_commands_total", "Valid client frames, by command type");
    describe_counter!("chat_ws_malformed_frames_total", "Client frames that did not parse or validate");
    describe_counter!("chat_ws_rate_limited_total", "Sends refused for exceeding the per-connection rate");
    describe_counter!(
        "chat_ws_slow_consumer_closes_total",
        "Sockets closed with 4002 for reading too slowly"
    );
    describe_counter!("chat_ws_silent_closes_total", "Sockets closed for answering no ping");
    describe_counter!("chat_ws_refused_total", "WebSockets refused at a connection cap, by which");
    describe_counter!("chat_typing_throttled_total", "Typing frames dropped by the per-user throttle");
    describe_histogram!(
        "chat_publish_ack_seconds",
        "Time from publishing a message to its JetStream acknowledgement"
    );
    describe_histogram!("chat_fanout_seconds", "Time to queue one live message for every local subscriber");
    describe_counter!("chat_fanout_deliveries_total", "Messages queued for local subscribers");
    describe_counter!(
        "chat_fanout_gaps_total",
        "Messages missed by the live feed and read back from the stream"
    );
    describe_counter!(
        "chat_fanout_gap_fill_failures_total",
        "Gaps that could not be read back; the room's sockets were closed to resume"
    );
    describe_histogram!("chat_client_id_lookup_batch_size", "Client ids looked up in PostgreSQL per query");
    describe_counter!("chat_presence_updates_total", "Presence changes written to Redis");
    describe_counter!("chat_presence_redis_errors_total", "Failed Redis calls of the presence adapter");
    describe_gauge!("chat_degraded", "Optional services unreachable at the last readiness check");
    describe_counter!("chat_webhook_attempts_total", "Webhook delivery attempts, by event type and outcome");
    describe_histogram!(
        "chat_webhook_attempt_seconds",
        "Time of one webhook delivery attempt, by event type"
    );
    describe_counter!(
        "chat_webhook_given_up_total",
        "Webhook deliveries given up after the retry period, by event type"
    );
    describe_gauge!("chat_webhook_backlog", "Webhook deliveries due and not yet attempted, deployment-wide");
    describe_counter!("chat_webhook_messages_total", "Stream messages handled for message.created events");
    describe_counter!(
        "chat_webhook_store_errors_total",
        "Failed database calls of the webhook delivery worker"
    );
    describe_counter!("chat_nats_events_total", "Events of the NATS connection, by kind");
    describe_gauge!("chat_persister_lag_messages", "Stream messages not yet delivered to a persister");
    describe_counter!("chat_persister_rows_total", "Messages inserted into PostgreSQL");
    describe_counter!("chat_persister_duplicates_total", "Messages of a batch that were already stored");
    describe_histogram!("chat_persister_insert_seconds", "Time of one successful batch insert");
    describe_histogram!("chat_persister_batch_size", "Messages per written batch");
    describe_counter!("chat_persister_insert_errors_total", "Failed batch inserts, each retried");
    describe_counter!("chat_persister_poison_total", "Undecodable stream entries, terminated");
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}
