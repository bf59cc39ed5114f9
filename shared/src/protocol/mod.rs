//! The WebSocket wire protocol (`GET /ws`): the two codecs, the frames a client sends and how
//! they are checked, and the frames the server sends, encoded once into shareable bytes.
//!
//! How the server answers, which this module's types are shaped for:
//! - a client frame with an `id` gets exactly one `reply` for that id (`ok: true` with the
//!   result's fields beside it, or `ok: false` with an `error`), including a frame that names a
//!   known id but is otherwise invalid ([`FrameError::into_frame`]);
//! - a frame without an `id`, or one that cannot be read at all, gets an `error` frame when it
//!   fails and nothing when it succeeds;
//! - `ping` always gets a `pong` frame; a `ping` with an `id` also gets its `reply` first.

#[cfg(test)]
mod arbitrary;
mod client;
mod client_value;
mod codec;
mod server;

pub use client::{
    ClientFrame, Command, EditCommand, FrameError, FrameErrorCode, SendCommand, decode_client_frame,
};
pub use codec::{Codec, SUBPROTOCOLS};
pub use server::{
    ChangeFrame, EntryFrame, ErrorBody, MemberChange, MessageFrame, PresenceState, ReactionFrame, Reply,
    ServerFrame, encode, encode_entry_frame, encode_message_frame, encode_reply,
};
