//! The session's sending half over a Socket.IO socket: a reply answers its event's
//! acknowledgement, other frames become events named by their type, and a close becomes a
//! `close` event and a disconnection.
//!
//! socketioxide queues what a socket emits in a buffer of `--outbound-queue` packets and fails an
//! emit the buffer cannot take. Such a frame waits here, and the session's writes with it, as a
//! write to a WebSocket whose peer does not read: past the session's write deadline, or as soon
//! as its own queue overflows meanwhile, the session closes as too slow (4002).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, Utf8Bytes};
use futures::Sink;
use serde::Serialize;
use serde_json::{Map, Value, json};
use socketioxide::extract::AckSender;
use socketioxide::handler::FromMessageParts;
use socketioxide::socket::Socket;
use socketioxide::{SendError, SocketError};
use socketioxide_core::Value as SioValue;
use tokio::time::Sleep;

use super::bridge::Bridge;
use super::frames::{Outbound, error_of, outbound, refusal};

/// How soon a frame the socket's buffer could not take is tried again: socketioxide tells no
/// one when the buffer drains.
const RETRY: Duration = Duration::from_millis(20);

/// Something to deliver on the socket.
#[derive(Debug)]
enum Delivery {
    /// A frame the session wrote, emitted as an event named by its type (read again when it
    /// goes).
    Frame(Utf8Bytes),
    /// The `error` event of a refusal that no acknowledgement waits for.
    Error(Value),
    /// The body of an acknowledgement, for the client's acknowledgement id.
    Ack {
        ack: i64,
        body: Map<String, Value>,
    },
    /// The `close` event, then the disconnection.
    Close {
        code: u16,
        reason: Utf8Bytes,
    },
    Disconnect,
}

/// How an attempt to hand something to the socket went.
enum Handed {
    Done,
    /// The socket's buffer is full.
    Full,
    /// The socket is gone.
    Closed(axum::Error),
}

impl From<Result<(), SendError>> for Handed {
    fn from(result: Result<(), SendError>) -> Self {
        match result {
            Ok(()) => Handed::Done,
            Err(SendError::Socket(SocketError::InternalChannelFull)) => Handed::Full,
            Err(SendError::Socket(err)) => Handed::Closed(axum::Error::new(err)),
            // What the session wrote is JSON: this would be a bug, and costs the client one
            // frame rather than the connection.
            Err(SendError::Serialize(err)) => {
                tracing::error!(error = %err, "a frame could not be emitted on a Socket.IO socket");
                Handed::Done
            }
        }
    }
}

/// A socket as the session's sink.
pub(super) struct SocketSink {
    socket: Arc<Socket>,
    bridge: Arc<Bridge>,
    /// What the socket's buffer could not take yet: nothing more is taken until it has.
    waiting: Option<Delivery>,
    retry: Option<Pin<Box<Sleep>>>,
}

impl SocketSink {
    pub(super) fn new(socket: Arc<Socket>, bridge: Arc<Bridge>) -> Self {
        Self { socket, bridge, waiting: None, retry: None }
    }

    /// What a frame of the session is to be on the socket, with the bookkeeping of its
    /// answer done: a reply's acknowledgement is taken, as is a malformed event's.
    fn delivery(&self, text: Utf8Bytes) -> Option<Delivery> {
        let Some(read) = outbound(&text) else {
            tracing::error!("the session wrote a frame that is not one");
            return None;
        };
        match read {
            Outbound::Event { .. } => Some(Delivery::Frame(text)),
            Outbound::Reply { id, body } => match self.bridge.take_ack(id) {
                Some(ack) => Some(Delivery::Ack { ack, body }),
                // Nobody waits: the client learns of a failure as a `/ws` client of a frame
                // without an id does, by an `error` event.
                None => error_of(&body).cloned().map(Delivery::Error),
            },
            Outbound::Error { frame } => match self.bridge.take_malformed() {
                Some(ack) => {
                    let frame: Map<String, Value> = serde_json::from_str(frame.get()).ok()?;
                    let error = frame.get("error").cloned().unwrap_or(Value::Null);
                    Some(Delivery::Ack { ack, body: refusal(error) })
                }
                None => Some(Delivery::Frame(text)),
            },
        }
    }

    /// Hands `delivery` to the socket; what is left of it when the buffer is full.
    fn deliver(&self, mut delivery: Delivery) -> Result<Option<Delivery>, axum::Error> {
        loop {
            let (handed, then) = match &delivery {
                Delivery::Frame(text) => (self.emit_frame(text), None),
                Delivery::Error(error) => {
                    (self.emit("error", &json!({"type": "error", "error": error})), None)
                }
                Delivery::Ack { ack, body } => {
                    let Ok(sender) = AckSender::from_message_parts(
                        &self.socket,
                        &mut SioValue::Bytes(Default::default()),
                        &Some(*ack),
                    );
                    (sender.send(body).into(), None)
                }
                Delivery::Close { code, reason } => {
                    let reason: &str = reason;
                    (self.emit("close", &json!({"code": code, "reason": reason})), Some(Delivery::Disconnect))
                }
                Delivery::Disconnect => (self.disconnect(), None),
            };
            match handed {
                Handed::Done => match then {
                    Some(next) => delivery = next,
                    None => return Ok(None),
                },
                Handed::Full => return Ok(Some(delivery)),
                Handed::Closed(err) => return Err(err),
            }
        }
    }

    fn emit_frame(&self, text: &str) -> Handed {
        match outbound(text) {
            Some(Outbound::Event { name, frame }) => self.emit(name, frame),
            Some(Outbound::Error { frame }) => self.emit("error", frame),
            _ => Handed::Done,
        }
    }

    fn emit<T: Serialize + ?Sized>(&self, event: &str, payload: &T) -> Handed {
        self.socket.emit(event, payload).into()
    }

    fn disconnect(&self) -> Handed {
        match self.socket.clone().disconnect() {
            Ok(()) => Handed::Done,
            Err(SocketError::InternalChannelFull) => Handed::Full,
            // Gone already: nothing is left to disconnect.
            Err(SocketError::Closed) => Handed::Done,
        }
    }

    /// Delivers what waits, trying again while the socket's buffer is full.
    fn poll_waiting(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        while let Some(delivery) = self.waiting.take() {
            self.waiting = self.deliver(delivery)?;
            if self.waiting.is_none() {
                self.retry = None;
                break;
            }
            let retry = self.retry.get_or_insert_with(|| Box::pin(tokio::time::sleep(RETRY)));
            ready!(retry.as_mut().poll(cx));
            self.retry = None;
        }
        Poll::Ready(Ok(()))
    }
}

impl Sink<WsMessage> for SocketSink {
    type Error = axum::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        self.get_mut().poll_waiting(cx)
    }

    fn start_send(self: Pin<&mut Self>, message: WsMessage) -> Result<(), axum::Error> {
        let this = self.get_mut();
        let delivery = match message {
            WsMessage::Text(text) => this.delivery(text),
            // The session of a Socket.IO socket speaks JSON, in text frames.
            WsMessage::Binary(_) => None,
            WsMessage::Ping(_) => {
                this.bridge.pong();
                None
            }
            WsMessage::Pong(_) => None,
            WsMessage::Close(frame) => Some(match frame {
                Some(frame) => Delivery::Close { code: frame.code, reason: frame.reason },
                None => Delivery::Disconnect,
            }),
        };
        if let Some(delivery) = delivery {
            this.waiting = this.deliver(delivery)?;
        }
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        self.get_mut().poll_waiting(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        self.get_mut().poll_waiting(cx)
    }
}

impl Drop for SocketSink {
    /// A session that ended without its close delivered (the client read nothing in time)
    /// still ends its socket; if even that cannot be queued, Engine.IO's heartbeat, which
    /// cannot queue its ping either, ends the connection within its interval.
    fn drop(&mut self) {
        if self.socket.connected() {
            let _ = self.socket.clone().disconnect();
        }
    }
}
