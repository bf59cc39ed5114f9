//! What can go wrong talking to NATS, sorted by what a caller can do about it.

use std::fmt::{Debug, Display};

use async_nats::ConnectErrorKind;
use async_nats::jetstream::consumer::StreamErrorKind;
use async_nats::jetstream::consumer::pull::{BatchErrorKind, MessagesErrorKind};
use async_nats::jetstream::context::{
    ConsumerInfoErrorKind, CreateStreamErrorKind, PublishErrorKind, RequestErrorKind,
};
use async_nats::jetstream::stream::{ConsumerErrorKind, LastRawMessageErrorKind};

pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The failure of a [`NatsLog`](super::NatsLog) operation.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// The first connection failed. It is not retried, so a process pointed at the wrong
    /// address stops at once instead of starting deaf.
    #[error("cannot connect to NATS at {urls}")]
    Connect {
        urls: String,
        #[source]
        source: async_nats::ConnectError,
    },
    /// The server did not answer in time, or JetStream did not answer at all (restarting, no
    /// leader yet): retrying later may succeed.
    #[error("NATS unavailable")]
    Unavailable(#[source] BoxError),
    /// A prefix, room or consumer name that NATS would read as more than one subject token.
    #[error("invalid {what} {value:?}: only letters, digits, '-' and '_' are allowed")]
    InvalidName { what: &'static str, value: String },
    /// Anything else: a setting the server refuses, an answer that makes no sense, a bug.
    #[error("NATS failure")]
    Other(#[source] BoxError),
}

impl NatsError {
    /// Whether retrying later may succeed, e.g. to answer 503 rather than 500.
    pub fn is_unavailable(&self) -> bool {
        match self {
            NatsError::Connect { source, .. } => matches!(
                source.kind(),
                ConnectErrorKind::Io
                    | ConnectErrorKind::TimedOut
                    | ConnectErrorKind::Dns
                    | ConnectErrorKind::MaxReconnects
            ),
            NatsError::Unavailable(_) => true,
            NatsError::InvalidName { .. } | NatsError::Other(_) => false,
        }
    }

    pub(super) fn other(err: impl Into<BoxError>) -> Self {
        NatsError::Other(err.into())
    }
}

/// Sorts the error kinds of async-nats: `true` when the server was unreachable or too slow,
/// `false` when it answered and refused.
trait Transient {
    fn is_transient(&self) -> bool;
}

impl<K> From<async_nats::error::Error<K>> for NatsError
where
    K: Transient + Clone + Debug + Display + PartialEq + Send + Sync + 'static,
{
    fn from(err: async_nats::error::Error<K>) -> Self {
        if err.kind().is_transient() {
            NatsError::Unavailable(Box::new(err))
        } else {
            NatsError::Other(Box::new(err))
        }
    }
}

/// JetStream answers 503 while it has no leader or not enough servers.
fn jetstream_unavailable(err: &async_nats::jetstream::Error) -> bool {
    err.code() == 503
}

impl Transient for PublishErrorKind {
    fn is_transient(&self) -> bool {
        // `StreamNotFound` is "no responders": JetStream is not listening on the subject, which
        // is what a restarting server looks like.
        matches!(
            self,
            PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe | PublishErrorKind::StreamNotFound
        )
    }
}

impl Transient for CreateStreamErrorKind {
    fn is_transient(&self) -> bool {
        match self {
            CreateStreamErrorKind::TimedOut
            | CreateStreamErrorKind::JetStreamUnavailable
            | CreateStreamErrorKind::Response => true,
            CreateStreamErrorKind::JetStream(err) => jetstream_unavailable(err),
            _ => false,
        }
    }
}

impl Transient for LastRawMessageErrorKind {
    fn is_transient(&self) -> bool {
        match self {
            // The request itself failed: no answer in time, or nobody listening.
            LastRawMessageErrorKind::Other => true,
            LastRawMessageErrorKind::JetStream(err) => jetstream_unavailable(err),
            _ => false,
        }
    }
}

impl Transient for ConsumerErrorKind {
    fn is_transient(&self) -> bool {
        match self {
            ConsumerErrorKind::TimedOut | ConsumerErrorKind::Request => true,
            ConsumerErrorKind::JetStream(err) => jetstream_unavailable(err),
            _ => false,
        }
    }
}

impl Transient for ConsumerInfoErrorKind {
    fn is_transient(&self) -> bool {
        match self {
            ConsumerInfoErrorKind::Offline
            | ConsumerInfoErrorKind::Request
            | ConsumerInfoErrorKind::TimedOut
            | ConsumerInfoErrorKind::NoResponders => true,
            ConsumerInfoErrorKind::JetStream(err) => jetstream_unavailable(err),
            _ => false,
        }
    }
}

impl Transient for BatchErrorKind {
    fn is_transient(&self) -> bool {
        // All but `Serialize` are failures to hand the pull request to the connection.
        !matches!(self, BatchErrorKind::Serialize)
    }
}

impl Transient for StreamErrorKind {
    fn is_transient(&self) -> bool {
        // Both are failures to send the first pull request.
        true
    }
}

impl Transient for MessagesErrorKind {
    fn is_transient(&self) -> bool {
        // Missed heartbeats and failed pull requests pass; a deleted consumer does not.
        !matches!(self, MessagesErrorKind::ConsumerDeleted | MessagesErrorKind::PushBasedConsumer)
    }
}

impl Transient for RequestErrorKind {
    fn is_transient(&self) -> bool {
        matches!(self, RequestErrorKind::TimedOut | RequestErrorKind::NoResponders)
    }
}
