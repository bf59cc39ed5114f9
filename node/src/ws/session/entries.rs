//! The commands that add an entry to a room's log (send, edit, delete, react and unreact): each
//! becomes work that runs beside the connection's other entries in flight, in the order the
//! client sent them per room, and resolves to the message as it stands after the entry.

use std::sync::Arc;

use chat_shared::domain::{ClientMsgId, Emoji, Message, RoomId, UserId};
use chat_shared::ports::MessageRef;
use chat_shared::protocol::{EditCommand, SendCommand};
use chat_shared::usecases::{MessageEdit, MessageService, NewMessage};

use crate::error::ApiError;

/// What an entry command stores, taken off the frame: it owns everything it needs, so it can
/// run while the session reads the next frames.
pub(super) enum EntryCommand {
    Send(SendCommand),
    Edit(EditCommand),
    Delete(Delete),
    React(React),
}

pub(super) struct Delete {
    pub room: RoomId,
    pub message: MessageRef,
    pub client_change_id: Option<ClientMsgId>,
}

pub(super) struct React {
    pub room: RoomId,
    pub message: MessageRef,
    pub emoji: Emoji,
    pub add: bool,
}

impl EntryCommand {
    pub(super) fn room(&self) -> RoomId {
        match self {
            Self::Send(send) => send.room,
            Self::Edit(edit) => edit.room,
            Self::Delete(delete) => delete.room,
            Self::React(react) => react.room,
        }
    }

    /// Stores the entry, once durable; the message as it is after it.
    pub(super) async fn store(
        self,
        messages: Arc<MessageService>,
        user: UserId,
    ) -> Result<Message, ApiError> {
        let stored = match self {
            Self::Send(send) => {
                let request = NewMessage {
                    room: send.room,
                    content: send.content,
                    kind: send.kind,
                    metadata: send.metadata,
                    client_msg_id: send.client_msg_id,
                    first_attempt: send.first_attempt,
                    reply_to: send.reply_to,
                };
                messages.send(user, request).await.map(|sent| sent.message)
            }
            Self::Edit(EditCommand { room, message, content, metadata, client_change_id }) => {
                let edit = MessageEdit { content, metadata, client_change_id };
                messages.edit(user, room, message, edit).await.map(|changed| changed.message)
            }
            Self::Delete(Delete { room, message, client_change_id }) => {
                messages.delete(user, room, message, client_change_id).await.map(|changed| changed.message)
            }
            Self::React(React { room, message, emoji, add }) => {
                messages.react(user, room, message, emoji, add).await.map(|reacted| reacted.message)
            }
        };
        stored.map_err(ApiError::from)
    }
}
