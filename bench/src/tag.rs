//! The timing tag each message carries at the start of its content, so any receiver can tell
//! who sent it, which send it was, and when: `<send nanos>:<connection>:<request id>;` followed
//! by padding up to the configured content size.

use std::fmt::Write;

/// What a receiver learns from a message's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    /// Nanoseconds since the bench started, on its monotonic clock, when the send was written.
    pub sent_at: u64,
    /// Index of the sending connection.
    pub conn: u32,
    /// The send's request id on that connection.
    pub request: u64,
}

const PAD: char = 'x';

impl Tag {
    /// Replaces `buf` with this tag padded to `len` bytes (never shorter than the tag itself).
    pub fn write_content(&self, buf: &mut String, len: usize) {
        buf.clear();
        // Writing to a String cannot fail.
        let _ = write!(buf, "{}:{}:{};", self.sent_at, self.conn, self.request);
        let pad = len.saturating_sub(buf.len());
        buf.extend(std::iter::repeat_n(PAD, pad));
    }

    /// Reads the tag at the start of a content; `None` for content the bench did not write.
    pub fn parse(content: &str) -> Option<Tag> {
        let head = &content[..content.find(';')?];
        let mut parts = head.splitn(3, ':');
        let sent_at = parts.next()?.parse().ok()?;
        let conn = parts.next()?.parse().ok()?;
        let request = parts.next()?.parse().ok()?;
        Some(Tag { sent_at, conn, request })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_survives_the_round_trip_and_pads_to_length() {
        let tag = Tag { sent_at: 123_456_789_012, conn: 42, request: 7 };
        let mut buf = String::from("stale");
        tag.write_content(&mut buf, 100);
        assert_eq!(buf.len(), 100);
        assert!(buf.starts_with("123456789012:42:7;xx"));
        assert_eq!(Tag::parse(&buf), Some(tag));
    }

    #[test]
    fn content_shorter_than_the_tag_keeps_the_whole_tag() {
        let tag = Tag { sent_at: 1, conn: 2, request: 3 };
        let mut buf = String::new();
        tag.write_content(&mut buf, 1);
        assert_eq!(buf, "1:2:3;");
    }

    #[test]
    fn foreign_content_has_no_tag() {
        for content in ["hello", "1:2;", "a:b:c;", "1:2:3", ""] {
            assert_eq!(Tag::parse(content), None, "{content}");
        }
    }
}
