use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A message's position in its room. Strictly increasing within a room; not dense.
pub type Seq = u64;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $generate:path) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, random id.
            pub fn generate() -> Self {
                Self($generate())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// The id's text, as `Display` writes it, into `buf`: for paths that run for every
            /// message, where `to_string` and `format!` cost more than the hex itself.
            pub fn encode<'b>(&self, buf: &'b mut [u8; 36]) -> &'b str {
                self.0.hyphenated().encode_lower(buf)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = super::invalid::Invalid;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| super::invalid::Invalid::NotAUuid)
            }
        }
    };
}

uuid_id!(
    /// A user's id (UUIDv4).
    UserId,
    Uuid::new_v4
);
impl UserId {
    /// The sender of system messages (the nil UUID), which no account has: application
    /// backends publish as it with an API key.
    pub const SYSTEM: UserId = UserId(Uuid::nil());
}

uuid_id!(
    /// A room's id (UUIDv4).
    RoomId,
    Uuid::new_v4
);
uuid_id!(
    /// A login's id: what one sign-in (registration or login) and every refresh descended from
    /// it share. The family of its refresh tokens, and the `sid` claim of its access tokens.
    LoginId,
    Uuid::new_v4
);
uuid_id!(
    /// One WebSocket connection, unique across nodes: what lets an event about something a
    /// socket did skip that socket.
    SocketId,
    Uuid::new_v4
);
uuid_id!(
    /// A message's id: UUIDv7, so ids sort by creation time and index well.
    MessageId,
    Uuid::now_v7
);
uuid_id!(
    /// An API key's id: UUIDv7, so keys list newest first by id.
    ApiKeyId,
    Uuid::now_v7
);
uuid_id!(
    /// A webhook's id: UUIDv7, so webhooks list newest first by id.
    WebhookId,
    Uuid::now_v7
);
uuid_id!(
    /// One event's delivery to one webhook, the same on every attempt (its `webhook-id`
    /// header): UUIDv7, so deliveries list in the order they were enqueued.
    DeliveryId,
    Uuid::now_v7
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoded_id_reads_as_its_display() {
        for id in [RoomId::generate(), RoomId::from_uuid(Uuid::nil()), RoomId::from_uuid(Uuid::max())] {
            assert_eq!(id.encode(&mut [0; 36]), id.to_string());
        }
        let message = MessageId::generate();
        assert_eq!(message.encode(&mut [0; 36]), message.to_string());
    }
}
