//! What room moderators decide: bans (out of the room, for a while or for good), mutes (in the
//! room, reading but not sending) and who may post.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{RoomId, UserId};
use super::invalid::Invalid;

/// Why a moderator banned someone, as they wrote it: 1–500 characters after trimming, no
/// control characters nor bidirectional overrides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct BanReason(String);

impl BanReason {
    pub const MAX_CHARS: usize = 500;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        super::names::showable(raw, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user kept out of a room: removed, and refused when added or joining again, until it
/// expires (never, without `expires_at`) or is lifted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Ban {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub banned_by: UserId,
    pub reason: Option<BanReason>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Ban {
    /// Whether the ban still holds at `now`.
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|end| end > now)
    }
}

/// Who may post in a room: everyone in it, or (an announcement channel) its owner and admins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PostPolicy {
    #[default]
    Everyone,
    Admins,
}

impl PostPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PostPolicy::Everyone => "everyone",
            PostPolicy::Admins => "admins",
        }
    }
}

impl FromStr for PostPolicy {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Invalid> {
        match s {
            "everyone" => Ok(PostPolicy::Everyone),
            "admins" => Ok(PostPolicy::Admins),
            _ => Err(Invalid::PostPolicy),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_ban_holds_until_it_expires_or_for_good() {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut ban = Ban {
            room_id: RoomId::generate(),
            user_id: UserId::generate(),
            banned_by: UserId::generate(),
            reason: None,
            created_at: at,
            expires_at: None,
        };
        assert!(ban.in_force(at + chrono::Duration::days(10_000)));
        ban.expires_at = Some(at + chrono::Duration::hours(1));
        assert!(ban.in_force(at + chrono::Duration::minutes(59)));
        assert!(!ban.in_force(at + chrono::Duration::hours(1)));
    }

    #[test]
    fn reasons_are_trimmed_limited_and_showable() {
        assert_eq!(BanReason::parse(" spam ").unwrap().as_str(), "spam");
        assert!(BanReason::parse(&"r".repeat(500)).is_ok());
        assert!(BanReason::parse(&"r".repeat(501)).is_err());
        assert!(BanReason::parse(" ").is_err());
        assert!(BanReason::parse("a\u{0007}b").is_err());
    }

    #[test]
    fn post_policies_read_as_written() {
        assert_eq!("admins".parse::<PostPolicy>().unwrap(), PostPolicy::Admins);
        assert_eq!(PostPolicy::default().as_str(), "everyone");
        assert!("Admins".parse::<PostPolicy>().is_err());
    }
}
