//! Why a raw value is not a valid domain value. Its text is the reason a client reads beside
//! the field's name in an `invalid_input` answer.

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("must not be empty")]
    Empty,
    #[error("must not contain NUL characters")]
    Nul,
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("must be {0} to {1} characters")]
    Length(usize, usize),
    #[error("must be at most {0} bytes")]
    TooLarge(usize),
    #[error("may contain only letters a-z, digits, '_', '.' and '-'")]
    UsernameCharacters,
    #[error("must be 1 to 32 of a-z, 0-9, '_', '.', '-'")]
    KindCharacters,
    #[error("must be a JSON object or null")]
    NotAnObject,
    #[error("must be 1 to 64 characters without control characters")]
    ClientMsgId,
    #[error("must not contain control characters")]
    ControlCharacters,
    #[error("must not contain bidirectional overrides or isolates")]
    BidiControls,
    #[error("must contain a visible character")]
    Invisible,
    #[error("must be a UUID")]
    NotAUuid,
    #[error("must be one of direct, group, channel")]
    RoomType,
    #[error("must be one of member, admin, owner")]
    Role,
    #[error("must be one of everyone, admins")]
    PostPolicy,
    #[error("must be one of user, admin")]
    UserRole,
    #[error("is not an action of the audit log")]
    AuditAction,
    #[error("must be 1 to 4 symbols of at most 64 bytes, without white space or control characters")]
    Emoji,
    #[error("must be the `next` of an earlier page")]
    Cursor,
    #[error("must be one of messages:publish, rooms:write, users:read")]
    Scope,
    #[error("must name at least one scope")]
    NoScopes,
    #[error("must be one of message.created, room.created, member.added, member.removed, user.disabled")]
    EventType,
    #[error("must name at least one event type")]
    NoEventTypes,
    #[error("must be printable ASCII without spaces (international host names in their xn-- form)")]
    UrlCharacters,
    #[error("must be an http:// or https:// URL")]
    UrlScheme,
    #[error("must not contain credentials (user:password@)")]
    UrlCredentials,
    #[error("must name a host (and a port from 0 to 65535, if any)")]
    UrlHost,
    #[error("is not a delivery status")]
    DeliveryStatus,
}
