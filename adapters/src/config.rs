//! Settings shared by the binaries that talk to the message stream.

use std::time::Duration;

use crate::nats::StreamSettings;

/// Where the message stream lives and how it keeps messages. The first process to start
/// creates the stream; later ones update it to these settings.
#[derive(Debug, Clone, clap::Args)]
pub struct StreamArgs {
    /// Prefix of the stream's name and subjects; deployments sharing a NATS cluster differ here.
    #[arg(long, env = "CHAT_STREAM_PREFIX", default_value = "chat")]
    pub stream_prefix: String,

    /// How long the stream keeps messages (the database keeps them for ever).
    #[arg(long, env = "CHAT_STREAM_MAX_AGE", default_value = "7days", value_parser = humantime::parse_duration)]
    pub stream_max_age: Duration,

    /// Largest size of the stream in bytes; -1 for no limit.
    #[arg(long, env = "CHAT_STREAM_MAX_BYTES", default_value_t = -1, allow_negative_numbers = true)]
    pub stream_max_bytes: i64,

    /// Copies of the stream in a NATS cluster (1, 3 or 5).
    #[arg(long, env = "CHAT_STREAM_REPLICAS", default_value_t = 1)]
    pub stream_replicas: usize,

    /// How long a repeated `client_msg_id` is caught by the stream itself (the database catches
    /// it after that).
    #[arg(long, env = "CHAT_STREAM_DUPLICATE_WINDOW", default_value = "2m", value_parser = humantime::parse_duration)]
    pub stream_duplicate_window: Duration,
}

impl StreamArgs {
    pub fn settings(&self) -> StreamSettings {
        StreamSettings {
            max_age: self.stream_max_age,
            max_bytes: self.stream_max_bytes,
            replicas: self.stream_replicas,
            duplicate_window: self.stream_duplicate_window,
        }
    }
}
