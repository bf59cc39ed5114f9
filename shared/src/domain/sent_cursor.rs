//! Where a walk through one user's messages, room by room and in seq order within a room,
//! goes on.

use std::fmt;

use super::ids::{RoomId, Seq};
use super::invalid::Invalid;

/// The position right after the message under `seq` in `room`. Written as `<room id>.<seq>`;
/// clients treat it as opaque.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SentCursor {
    pub room: RoomId,
    pub seq: Seq,
}

impl SentCursor {
    /// The cursor a client sent back.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let (room, seq) = raw.split_once('.').ok_or(Invalid::Cursor)?;
        let room = room.parse().map_err(|_| Invalid::Cursor)?;
        // Digits only: `u64::from_str` would take a leading `+` as well.
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid::Cursor);
        }
        let seq = seq.parse().map_err(|_| Invalid::Cursor)?;
        Ok(Self { room, seq })
    }
}

impl fmt::Display for SentCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.room, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_it_was_written() {
        let cursor = SentCursor { room: RoomId::generate(), seq: 42 };
        assert_eq!(SentCursor::parse(&cursor.to_string()), Ok(cursor));
        let last = SentCursor { room: cursor.room, seq: Seq::MAX };
        assert_eq!(SentCursor::parse(&last.to_string()), Ok(last));
    }

    #[test]
    fn anything_else_is_not_a_cursor() {
        let room = RoomId::generate();
        for bad in [
            String::new(),
            room.to_string(),
            format!("{room}."),
            format!("{room}.+1"),
            format!("{room}.-1"),
            format!("{room}.1.2"),
            format!("{room}.18446744073709551616"),
            "not-a-room.1".to_owned(),
            format!(".{}", 1),
        ] {
            assert_eq!(SentCursor::parse(&bad), Err(Invalid::Cursor), "{bad:?}");
        }
    }
}
