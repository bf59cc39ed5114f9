//! The deployment's one stream: created at start, or brought in line with the settings of the
//! process that starts last.

use std::time::Duration;

use async_nats::jetstream::Context;
use async_nats::jetstream::stream::{Config, Republish, Stream};

use super::error::NatsError;
use super::names::Names;

/// How long and how much the stream keeps, and how it guards against duplicates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamSettings {
    /// How long a message stays replayable. Older ones are removed, so a client further behind
    /// cannot fully recover from the stream.
    pub max_age: Duration,
    /// Cap on the stored bytes, oldest messages removed first; -1 for no cap.
    pub max_bytes: i64,
    /// Copies kept in a cluster (1, 3 or 5); more than the cluster has servers fails at start.
    pub replicas: usize,
    /// How long a `dedup_id` is remembered, so that a client's retried send is stored once.
    /// The server refuses a window longer than `max_age`.
    pub duplicate_window: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(7 * 24 * 3600),
            max_bytes: -1,
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
        }
    }
}

/// Creates the stream, or updates it when it exists with other settings. Two processes starting
/// at once with the same settings both succeed.
pub(super) async fn ensure(
    js: &Context,
    names: &Names,
    settings: &StreamSettings,
) -> Result<Stream, NatsError> {
    let mut wanted = Config::default();
    apply(&mut wanted, names, settings);
    let stream = js.get_or_create_stream(wanted).await?;
    let current = &stream.cached_info().config;
    let mut updated = current.clone();
    apply(&mut updated, names, settings);
    if updated != *current {
        js.update_stream(&updated).await?;
        tracing::info!(stream = %updated.name, ?settings, "updated the stream to the settings");
    }
    Ok(stream)
}

/// Writes what this adapter depends on over `config`, keeping whatever else an operator set.
fn apply(config: &mut Config, names: &Names, settings: &StreamSettings) {
    config.name = names.stream();
    config.subjects = vec![names.stored()];
    config.max_age = settings.max_age;
    config.max_bytes = settings.max_bytes;
    config.num_replicas = settings.replicas;
    config.duplicate_window = settings.duplicate_window;
    // Lets `get` read from any replica, not only the leader.
    config.allow_direct = true;
    // The server sends each stored message on to `{P}.live.<room>` with `Nats-Sequence` and
    // `Nats-Last-Sequence` headers: live fan-out costs no extra publish, and a node can tell
    // from `Nats-Last-Sequence` that it missed one.
    config.republish =
        Some(Republish { source: names.all_rooms(), destination: names.all_live(), headers_only: false });
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::NatsLog;
    use super::super::testing::{TestLog, url};
    use super::*;

    #[tokio::test]
    async fn connecting_with_other_settings_updates_the_stream() {
        let log = TestLog::start().await;
        let settings = StreamSettings { max_age: Duration::from_secs(3600), ..Default::default() };

        NatsLog::connect(&url(), log.prefix(), settings).await.unwrap();

        let info = log.stream.get_info().await.unwrap();
        assert_eq!(info.config.max_age, Duration::from_secs(3600));
        assert!(info.config.allow_direct);
        assert_eq!(info.config.subjects, [format!("{}.msg.*", log.prefix())]);
    }

    #[tokio::test]
    async fn settings_the_server_refuses_fail_the_connect() {
        let log = TestLog::start().await;
        let settings = StreamSettings {
            max_age: Duration::from_secs(60),
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };

        let err = NatsLog::connect(&url(), log.prefix(), settings).await.err().unwrap();

        assert!(matches!(err, NatsError::Other(_)), "{err:?}");
    }
}
