//! Every way the server closes a WebSocket: the contract's code and the reason sent with it.

use axum::extract::ws::CloseFrame;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// 1002: the peer broke the WebSocket protocol (an unmasked frame, a reserved bit, a
    /// control frame over 125 bytes).
    ProtocolViolated,
    /// 1007: a text frame that is not UTF-8.
    InvalidUtf8,
    /// 1008: a burst of malformed frames.
    MalformedFlood,
    /// 1009: a frame over the limit.
    TooBig,
    /// 1011: the server failed in a way that is its own fault.
    Internal,
    /// 1012: the node is shutting down.
    Restarting,
    /// 1013: a backing service is unavailable: the token may well be good; reconnect later.
    TryAgainLater,
    /// 4001: no token came in time.
    AuthRequired,
    /// 4001: the token is bad in itself, or names a user who no longer exists.
    InvalidToken,
    /// 4001: the session's token expired without a renewal.
    TokenExpired,
    /// 4001: a renewal brought another user's token.
    AnotherUsersToken,
    /// 4001: the login the token belongs to ended (logout, a replayed refresh token, a password
    /// change elsewhere).
    LoginEnded,
    /// 4002: the client does not read its frames fast enough.
    TooSlow,
    /// 4008: sends refused by the rate limit, in a row.
    RateLimited,
    /// 4029: the user holds as many sockets on this node as they may.
    TooManyConnections,
}

impl Close {
    pub const fn code(self) -> u16 {
        match self {
            Close::ProtocolViolated => 1002,
            Close::InvalidUtf8 => 1007,
            Close::MalformedFlood => 1008,
            Close::TooBig => 1009,
            Close::Internal => 1011,
            Close::Restarting => 1012,
            Close::TryAgainLater => 1013,
            Close::AuthRequired
            | Close::InvalidToken
            | Close::TokenExpired
            | Close::AnotherUsersToken
            | Close::LoginEnded => 4001,
            Close::TooSlow => 4002,
            Close::RateLimited => 4008,
            Close::TooManyConnections => 4029,
        }
    }

    pub const fn reason(self) -> &'static str {
        match self {
            Close::ProtocolViolated => "WebSocket protocol violated",
            Close::InvalidUtf8 => "a text frame must be UTF-8",
            Close::MalformedFlood => "too many malformed frames",
            Close::TooBig => "frame too large",
            Close::Internal => "internal error; retry later",
            Close::Restarting => "server restarting",
            Close::TryAgainLater => "a backing service is unavailable; retry later",
            Close::AuthRequired => "authentication required",
            Close::InvalidToken => "invalid or expired token",
            Close::TokenExpired => "token expired",
            Close::AnotherUsersToken => "the token is another user's",
            Close::LoginEnded => "login ended",
            Close::TooSlow => "too slow; reconnect and join with since",
            Close::RateLimited => "sending too fast",
            Close::TooManyConnections => "too many connections of this user",
        }
    }

    pub fn frame(self) -> CloseFrame {
        CloseFrame { code: self.code(), reason: self.reason().into() }
    }
}
