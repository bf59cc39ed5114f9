//! Reactions: a user's emoji on a message. Each addition or removal that changes something is
//! an entry of the room's log, numbered per (message, user, emoji) so that every entry is a
//! real transition and applying them is keeping the highest number.

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use super::ids::{MessageId, RoomId, Seq, UserId};
use super::invalid::Invalid;
use super::names::unshowable;

/// What a reaction shows: 1–4 symbols (grapheme clusters) of at most 64 bytes, visible, with
/// no white space or control characters. Compared exactly, without normalisation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct Emoji(String);

impl Emoji {
    pub const MAX_SYMBOLS: usize = 4;
    pub const MAX_BYTES: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let fits = !raw.is_empty()
            && raw.len() <= Self::MAX_BYTES
            && raw.graphemes(true).count() <= Self::MAX_SYMBOLS
            && !raw.chars().any(char::is_whitespace)
            && unshowable(raw).is_none();
        if !fits {
            return Err(Invalid::Emoji);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One user's reaction with one emoji to one message: what a reaction entry changes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReactionKey {
    pub message_seq: Seq,
    pub user: UserId,
    pub emoji: Emoji,
}

/// An addition or removal of a reaction, as the room's log holds it. Serialized with `emoji`
/// first: the stream tells a reaction from a message or change by its first key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub emoji: Emoji,
    /// Added (`true`) or removed.
    pub added: bool,
    /// How many times this user's reaction with this emoji to this message has changed, this
    /// change included: odd while it stands. The entry with the highest version wins.
    pub version: u32,
    pub user: UserId,
    pub room_id: RoomId,
    pub message_id: MessageId,
    pub message_seq: Seq,
    /// The entry's own seq in the room's log.
    #[serde(skip)]
    pub seq: Seq,
}

impl Reaction {
    /// The reaction stored under `seq`.
    pub fn at_seq(self, seq: Seq) -> Reaction {
        Reaction { seq, ..self }
    }

    pub fn key(&self) -> ReactionKey {
        ReactionKey { message_seq: self.message_seq, user: self.user, emoji: self.emoji.clone() }
    }

    /// Whether a reaction at `version` stands: it was added once more than removed.
    pub fn stands(version: u32) -> bool {
        version % 2 == 1
    }
}

/// How many reacted to a message with one emoji, as one reader sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReactionCount {
    pub emoji: Emoji,
    pub count: u32,
    /// Whether the reader is one of them.
    pub me: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emoji_is_a_few_visible_symbols() {
        for good in ["👍", "❤️", "❤", "🇫🇷", "👩‍👩‍👧", "👍🏽", "+1", "ok", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "🎉🎉🎉🎉"]
        {
            assert!(Emoji::parse(good).is_ok(), "{good:?}");
        }
        let too_long = "x".repeat(65);
        for bad in [
            "",
            " ",
            "👍 ",
            "a b",
            "🎉🎉🎉🎉🎉",
            ":shipit:",
            "\u{200B}",
            "\u{200D}",
            "\u{202E}👍",
            "👍\n",
            "\0",
            too_long.as_str(),
        ] {
            assert_eq!(Emoji::parse(bad), Err(Invalid::Emoji), "{bad:?}");
        }
    }

    #[test]
    fn a_reaction_stands_at_odd_versions() {
        assert!(!Reaction::stands(0));
        assert!(Reaction::stands(1));
        assert!(!Reaction::stands(2));
        assert!(Reaction::stands(u32::MAX));
    }
}
