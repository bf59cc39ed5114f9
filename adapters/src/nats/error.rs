//! What can go wrong talking to NATS, sorted by what a caller can do about it.

use std::fmt::{Debug, Display};

use async_nats::ConnectErrorKind;
use async_nats::jetstream::consumer::StreamErrorKind;
use async_nats::jetstream::consumer::pull::{BatchErrorKind, MessagesErrorKind};
use async_nats::jetstream::context::{
    ConsumerInfoErrorKind, CreateStreamErrorKind, PublishErrorKind, RequestErrorKind,
};
use async_nats::jetstream::stream::{
    ConsumerErrorKind, DeleteMessageErrorKind, DirectGetErrorKind, LastRawMessageErrorKind,
};

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
    /// The `.creds` file given for authentication cannot be read or holds no credentials.
    #[error("cannot read the NATS credentials file")]
    Credentials(#[source] std::io::Error),
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
            NatsError::Credentials(_) | NatsError::InvalidName { .. } | NatsError::Other(_) => false,
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

impl Transient for DirectGetErrorKind {
    fn is_transient(&self) -> bool {
        match self {
            DirectGetErrorKind::TimedOut | DirectGetErrorKind::Request | DirectGetErrorKind::Other => true,
            // 503: nobody listening (JetStream restarting), or no leader.
            DirectGetErrorKind::ErrorResponse(status, _) => *status == async_nats::StatusCode::NO_RESPONDERS,
            DirectGetErrorKind::NotFound | DirectGetErrorKind::InvalidSubject => false,
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

impl Transient for DeleteMessageErrorKind {
    fn is_transient(&self) -> bool {
        match self {
            DeleteMessageErrorKind::Request | DeleteMessageErrorKind::TimedOut => true,
            DeleteMessageErrorKind::JetStream(err) => jetstream_unavailable(err),
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

#[cfg(test)]
mod tests {
    use async_nats::error::Error;

    use super::*;

    /// What `NatsError` an async-nats error of `kind` becomes: `true` for `Unavailable`.
    fn unavailable<K>(kind: K) -> bool
    where
        K: Transient + Clone + Debug + Display + PartialEq + Send + Sync + 'static,
    {
        let err = NatsError::from(Error::from(kind));
        assert_eq!(err.is_unavailable(), matches!(err, NatsError::Unavailable(_)));
        err.is_unavailable()
    }

    /// JetStream's API answering with an error of this HTTP-like status.
    fn answered(code: usize) -> async_nats::jetstream::Error {
        let answer = serde_json::json!({ "code": code, "err_code": 10_000, "description": "refused" });
        serde_json::from_value(answer).expect("an API error")
    }

    #[test]
    fn no_answer_in_time_or_nobody_listening_is_unavailable() {
        assert!(unavailable(PublishErrorKind::TimedOut));
        assert!(unavailable(PublishErrorKind::BrokenPipe));
        assert!(unavailable(PublishErrorKind::StreamNotFound));
        assert!(unavailable(CreateStreamErrorKind::TimedOut));
        assert!(unavailable(CreateStreamErrorKind::JetStreamUnavailable));
        assert!(unavailable(CreateStreamErrorKind::Response));
        assert!(unavailable(LastRawMessageErrorKind::Other));
        assert!(unavailable(ConsumerErrorKind::TimedOut));
        assert!(unavailable(ConsumerErrorKind::Request));
        assert!(unavailable(ConsumerInfoErrorKind::Offline));
        assert!(unavailable(ConsumerInfoErrorKind::Request));
        assert!(unavailable(ConsumerInfoErrorKind::TimedOut));
        assert!(unavailable(ConsumerInfoErrorKind::NoResponders));
        assert!(unavailable(BatchErrorKind::Subscribe));
        assert!(unavailable(BatchErrorKind::Pull));
        assert!(unavailable(BatchErrorKind::Flush));
        assert!(unavailable(StreamErrorKind::TimedOut));
        assert!(unavailable(StreamErrorKind::Other));
        assert!(unavailable(MessagesErrorKind::MissingHeartbeat));
        assert!(unavailable(MessagesErrorKind::Pull));
        assert!(unavailable(MessagesErrorKind::NoResponders));
        assert!(unavailable(RequestErrorKind::TimedOut));
        assert!(unavailable(RequestErrorKind::NoResponders));
        assert!(unavailable(DirectGetErrorKind::TimedOut));
        assert!(unavailable(DirectGetErrorKind::ErrorResponse(
            async_nats::StatusCode::NO_RESPONDERS,
            "".into()
        )));
    }

    #[test]
    fn a_refusal_by_the_server_or_a_bad_request_is_not_unavailable() {
        assert!(!unavailable(PublishErrorKind::WrongLastSequence));
        assert!(!unavailable(PublishErrorKind::WrongLastMessageId));
        assert!(!unavailable(CreateStreamErrorKind::InvalidStreamName));
        assert!(!unavailable(CreateStreamErrorKind::ResponseParse));
        assert!(!unavailable(LastRawMessageErrorKind::InvalidSubject));
        assert!(!unavailable(ConsumerErrorKind::InvalidName));
        assert!(!unavailable(ConsumerInfoErrorKind::NotFound));
        assert!(!unavailable(BatchErrorKind::Serialize));
        assert!(!unavailable(MessagesErrorKind::ConsumerDeleted));
        assert!(!unavailable(MessagesErrorKind::PushBasedConsumer));
        assert!(!unavailable(RequestErrorKind::Other));
        assert!(!unavailable(DirectGetErrorKind::NotFound));
        assert!(!unavailable(DirectGetErrorKind::ErrorResponse(
            async_nats::StatusCode::REQUEST_TERMINATED,
            "".into()
        )));
    }

    #[test]
    fn jetstream_answering_503_is_unavailable_and_any_other_error_answer_is_not() {
        for (code, expected) in [(503, true), (400, false), (404, false), (500, false)] {
            assert_eq!(unavailable(CreateStreamErrorKind::JetStream(answered(code))), expected, "{code}");
            assert_eq!(unavailable(LastRawMessageErrorKind::JetStream(answered(code))), expected, "{code}");
            assert_eq!(unavailable(ConsumerErrorKind::JetStream(answered(code))), expected, "{code}");
            assert_eq!(unavailable(ConsumerInfoErrorKind::JetStream(answered(code))), expected, "{code}");
        }
    }

    #[test]
    fn a_first_connection_without_a_server_is_unavailable_and_one_with_bad_settings_is_not() {
        let connect =
            |kind: ConnectErrorKind| NatsError::Connect { urls: "nats://x".into(), source: kind.into() };
        for kind in [
            ConnectErrorKind::Io,
            ConnectErrorKind::TimedOut,
            ConnectErrorKind::Dns,
            ConnectErrorKind::MaxReconnects,
        ] {
            assert!(connect(kind).is_unavailable(), "{kind:?}");
        }
        for kind in [ConnectErrorKind::ServerParse, ConnectErrorKind::Authentication, ConnectErrorKind::Tls] {
            assert!(!connect(kind).is_unavailable(), "{kind:?}");
        }
        assert!(!NatsError::InvalidName { what: "room", value: "a.b".into() }.is_unavailable());
        assert!(!NatsError::other("a bug").is_unavailable());
    }
}
