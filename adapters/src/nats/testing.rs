//! Test support: a log on a fresh prefix of the real server, whose stream is deleted when the
//! test ends, even by a failed assertion.

use std::ops::Deref;

use super::log::NatsLog;
use super::stream::StreamSettings;

/// The server the tests run against: `NATS_URL`, else a local one.
pub(super) fn url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "127.0.0.1:4222".to_owned())
}

pub(super) struct TestLog {
    log: NatsLog,
    prefix: String,
}

impl TestLog {
    pub(super) async fn start() -> Self {
        Self::with(StreamSettings::default()).await
    }

    pub(super) async fn with(settings: StreamSettings) -> Self {
        let prefix = format!("t_{}", uuid::Uuid::new_v4().simple());
        let log = NatsLog::connect(&url(), &prefix, settings).await.expect("connect to NATS");
        Self { log, prefix }
    }

    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Another connection to the same stream, as a second process would have.
    pub(super) async fn connect_again(&self) -> NatsLog {
        NatsLog::connect(&url(), &self.prefix, StreamSettings::default()).await.unwrap()
    }
}

impl Deref for TestLog {
    type Target = NatsLog;

    fn deref(&self) -> &NatsLog {
        &self.log
    }
}

impl Drop for TestLog {
    /// Deletes the stream from a thread of its own, with a connection of its own: the test's
    /// runtime may be the single thread this blocks.
    fn drop(&mut self) {
        let stream = self.log.names.stream();
        let deleted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let client = async_nats::connect(url()).await?;
                async_nats::jetstream::new(client).delete_stream(&stream).await?;
                Ok::<_, async_nats::Error>(())
            })?;
            Ok::<_, async_nats::Error>(())
        })
        .join();
        if !matches!(deleted, Ok(Ok(()))) {
            eprintln!("could not delete a test stream: {deleted:?}");
        }
    }
}
