use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::chars::char_len;
use super::ids::Seq;
use super::ids::{RoomId, UserId};
use super::invalid::Invalid;

/// What kind of conversation a room is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomType {
    /// Two people; unique per pair; takes no new members.
    Direct,
    /// Invite-only: owner and admins add members.
    Group,
    /// Public: anyone may read and join.
    Channel,
}

impl RoomType {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomType::Direct => "direct",
            RoomType::Group => "group",
            RoomType::Channel => "channel",
        }
    }
}

impl FromStr for RoomType {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "direct" => Ok(RoomType::Direct),
            "group" => Ok(RoomType::Group),
            "channel" => Ok(RoomType::Channel),
            _ => Err(Invalid::RoomType),
        }
    }
}

/// A participant's standing in a room. Ordered by power: `Member < Admin < Owner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Owners and admins manage a room's membership.
    pub fn manages_members(self) -> bool {
        self >= Role::Admin
    }
}

impl FromStr for Role {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "member" => Ok(Role::Member),
            "admin" => Ok(Role::Admin),
            "owner" => Ok(Role::Owner),
            _ => Err(Invalid::Role),
        }
    }
}

/// A room's name: 1–100 characters after trimming, something visible, no control characters or
/// bidirectional overrides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RoomName(String);

impl RoomName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        if !(1..=100).contains(&char_len(trimmed)) {
            return Err(Invalid::Length(1, 100));
        }
        if let Some(why) = super::names::unshowable(trimmed) {
            return Err(why);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Room {
    pub id: RoomId,
    pub name: RoomName,
    #[serde(rename = "type")]
    pub room_type: RoomType,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub is_active: bool,
}

/// A user's membership of a room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Participant {
    pub user_id: UserId,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
    pub last_read_seq: Seq,
}

/// One entry of a user's room list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RoomSummary {
    #[serde(flatten)]
    pub room: Room,
    pub role: Role,
    pub last_read_seq: Seq,
    pub unread_count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_are_trimmed_and_limited_to_one_hundred_characters() {
        assert_eq!(RoomName::parse(" general ").unwrap().as_str(), "general");
        assert!(RoomName::parse("").is_err());
        assert!(RoomName::parse(" \t ").is_err());
        assert!(RoomName::parse(&"r".repeat(101)).is_err());
        assert!(RoomName::parse("tab\tinside").is_err());
    }

    #[test]
    fn unknown_room_types_and_roles_are_rejected() {
        assert!("group".parse::<RoomType>().is_ok());
        assert!("Group".parse::<RoomType>().is_err());
        assert!("superuser".parse::<Role>().is_err());
    }

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Owner > Role::Admin && Role::Admin > Role::Member);
        assert!(Role::Admin.manages_members());
        assert!(!Role::Member.manages_members());
    }
}
