//! What a search of the user directory is made of: the prefix people type, and where a page of
//! results resumes.

use super::chars::char_len;
use super::invalid::Invalid;
use super::user::{User, Username};

/// What a directory search matches the start of usernames and display names against: 1–64
/// characters without control characters, kept exactly as typed (white space included), since
/// a prefix of a display name may well end in a space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchPrefix(String);

impl SearchPrefix {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if !(1..=64).contains(&char_len(raw)) {
            return Err(Invalid::Length(1, 64));
        }
        if raw.chars().any(char::is_control) {
            return Err(Invalid::ControlCharacters);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where the next page of a directory search starts: right after the user whose lower-cased
/// username this is. Usernames are unique case-insensitively, so a position between two of
/// them holds still while users come and go, and a page never repeats or skips one. Clients
/// treat it as opaque.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryCursor(String);

impl DirectoryCursor {
    /// The cursor a client sent back; anything that could not be a username is not one.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Username::parse(raw).map(|name| Self::after(&name)).map_err(|_| Invalid::Cursor)
    }

    /// The position right after `username`.
    pub fn after(username: &Username) -> Self {
        Self(username.as_str().to_ascii_lowercase())
    }

    /// The position right after `user`, the last of a page.
    pub fn after_user(user: &User) -> Self {
        Self::after(&user.username)
    }

    /// The lower-cased username the page resumes after, as stores compare it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_is_one_to_sixty_four_characters_without_control_characters() {
        assert_eq!(SearchPrefix::parse(""), Err(Invalid::Length(1, 64)));
        assert!(SearchPrefix::parse(&"é".repeat(64)).is_ok());
        assert_eq!(SearchPrefix::parse(&"é".repeat(65)), Err(Invalid::Length(1, 64)));
        for bad in ["ann\n", "\u{0000}", "a\u{007F}b", "\u{009B}x"] {
            assert_eq!(SearchPrefix::parse(bad), Err(Invalid::ControlCharacters), "{bad:?}");
        }
        assert_eq!(SearchPrefix::parse("Ann ").unwrap().as_str(), "Ann ");
        assert_eq!(SearchPrefix::parse("%_\\").unwrap().as_str(), "%_\\");
    }

    #[test]
    fn a_cursor_is_a_lower_cased_username_and_nothing_else() {
        assert_eq!(DirectoryCursor::parse("Ann.Smith").unwrap().as_str(), "ann.smith");
        for bad in ["", "a", "ann smith", "ann%", &"a".repeat(33)] {
            assert_eq!(DirectoryCursor::parse(bad), Err(Invalid::Cursor), "{bad:?}");
        }
    }
}
