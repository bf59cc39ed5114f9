use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::chars::char_len;
use super::ids::UserId;
use super::invalid::Invalid;

/// A login name: 3–32 of `a-z A-Z 0-9 _ . -`. Unique case-insensitively; stored as given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let len = raw.len();
        if !(3..=32).contains(&len) {
            return Err(Invalid::Length(3, 32));
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
            return Err(Invalid::UsernameCharacters);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A clear-text password that satisfies the policy (8–128 characters). It never prints.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if !(8..=128).contains(&char_len(raw)) {
            return Err(Invalid::Length(8, 128));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// The name shown to others: 1–64 characters after trimming, something visible, no control
/// characters or bidirectional overrides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        super::names::showable(raw, 64).map(Self)
    }

    pub fn from_username(username: &Username) -> Self {
        Self(username.0.clone())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An encoded password hash (PHC string); what the hasher made, opaque to everyone else.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn new(encoded: String) -> Self {
        Self(encoded)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// A registered user, as others may see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub display_name: DisplayName,
    pub created_at: DateTime<Utc>,
    /// What they may do beyond their own rooms; shown only for administrators, so a plain
    /// user's profile is what it always was.
    #[serde(skip_serializing_if = "UserRole::is_user")]
    pub role: UserRole,
    /// When an administrator disabled them; absent while they may log in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<DateTime<Utc>>,
}

/// A user's standing in the whole deployment: administrators run it (made from the command
/// line, never by an HTTP call); everyone else is a user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserRole {
    #[default]
    User,
    Admin,
}

impl UserRole {
    pub fn is_user(&self) -> bool {
        *self == UserRole::User
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UserRole::User => "user",
            UserRole::Admin => "admin",
        }
    }
}

impl std::str::FromStr for UserRole {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Invalid> {
        match s {
            "user" => Ok(UserRole::User),
            "admin" => Ok(UserRole::Admin),
            _ => Err(Invalid::UserRole),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_outside_three_to_thirty_two_characters_are_rejected() {
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse(&"a".repeat(33)).is_err());
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse(&"a".repeat(32)).is_ok());
    }

    #[test]
    fn usernames_with_spaces_or_symbols_are_rejected() {
        for bad in ["a b c", "abc!", "ab/c", "ünï", "abc\n", "<script>"] {
            assert!(Username::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(Username::parse("a.b_c-9").is_ok());
    }

    #[test]
    fn passwords_need_eight_to_one_hundred_twenty_eight_characters() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"é".repeat(128)).is_ok());
        assert!(Password::parse(&"x".repeat(129)).is_err());
    }

    #[test]
    fn a_password_never_shows_in_debug_output() {
        let password = Password::parse("hunter2hunter2").unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
    }

    #[test]
    fn display_names_are_trimmed_and_limited() {
        assert_eq!(DisplayName::parse("  Ann  ").unwrap().as_str(), "Ann");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"x".repeat(65)).is_err());
        assert!(DisplayName::parse("bad\u{0007}name").is_err());
        assert!(DisplayName::parse("\u{200B}\u{200B}").is_err());
        assert!(DisplayName::parse("evil\u{202E}gpj.exe").is_err());
    }
}
