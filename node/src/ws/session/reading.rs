//! What comes in on the socket: the bytes of a client frame, a message with nothing to run, or
//! the end of the connection.

use axum::extract::ws::Message as WsMessage;
use bytes::Bytes;

use super::closing::Ending;
use crate::ws::close::Close;

/// One read from the socket, as the session sees it.
#[derive(Debug, PartialEq)]
pub(super) enum Read {
    /// A text or binary message: a client frame to decode.
    Frame(Bytes),
    /// A ping or pong: the socket answers pings itself.
    Nothing,
    End(Ending),
}

pub(super) fn read(incoming: Option<Result<WsMessage, axum::Error>>) -> Read {
    match incoming {
        None | Some(Ok(WsMessage::Close(_))) => Read::End(Ending::Gone),
        Some(Ok(WsMessage::Text(text))) => Read::Frame(Bytes::from(text)),
        Some(Ok(WsMessage::Binary(bytes))) => Read::Frame(bytes),
        Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => Read::Nothing,
        Some(Err(err)) => Read::End(read_failure(err)),
    }
}

/// The close for a socket that failed to read: the RFC 6455 code of a protocol violation, an
/// invalid text frame or an oversized one; nothing when the connection itself broke.
fn read_failure(err: axum::Error) -> Ending {
    let Ok(err) = err.into_inner().downcast::<tungstenite::Error>() else { return Ending::Gone };
    match *err {
        tungstenite::Error::Capacity(_) => Ending::Close(Close::TooBig),
        tungstenite::Error::Utf8(_) => Ending::Close(Close::InvalidUtf8),
        tungstenite::Error::Protocol(_) => Ending::Close(Close::ProtocolViolated),
        _ => Ending::Gone,
    }
}
