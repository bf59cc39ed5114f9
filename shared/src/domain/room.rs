use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::Seq;
use super::ids::{RoomId, UserId};
use super::invalid::Invalid;
use super::moderation::PostPolicy;

/// What kind of conversation a room is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct RoomName(String);

impl RoomName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        super::names::showable(raw, 100).map(Self)
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

impl TryFrom<String> for RoomName {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<RoomName> for String {
    fn from(name: RoomName) -> String {
        name.0
    }
}

/// What a room is about, shown under its name: 1–250 characters after trimming, with the rules
/// of names (something visible, no control characters or bidirectional overrides).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct RoomTopic(String);

impl RoomTopic {
    pub const MAX_CHARS: usize = 250;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        super::names::showable(raw, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RoomTopic {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<RoomTopic> for String {
    fn from(topic: RoomTopic) -> String {
        topic.0
    }
}

/// A room. Deserializable so that events about rooms can travel between nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Room {
    pub id: RoomId,
    pub name: RoomName,
    /// Absent (`null`) until someone sets one.
    pub topic: Option<RoomTopic>,
    /// Who may post: everyone, or the owner and admins only.
    #[serde(default)]
    pub post_policy: PostPolicy,
    #[serde(rename = "type")]
    pub room_type: RoomType,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub is_active: bool,
}

/// A user's membership of a room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Participant {
    pub user_id: UserId,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
    pub last_read_seq: Seq,
    /// Until when a moderator muted them (they read, but may not send); absent when never
    /// muted or unmuted. A time in the past is a mute that has ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub muted_until: Option<DateTime<Utc>>,
}

impl Participant {
    /// Whether they are muted at `now`.
    pub fn is_muted(&self, now: DateTime<Utc>) -> bool {
        self.muted_until.is_some_and(|until| until > now)
    }
}

/// One entry of a user's room list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoomSummary {
    #[serde(flatten)]
    pub room: Room,
    pub role: Role,
    pub last_read_seq: Seq,
    pub unread_count: u64,
    /// As [`Participant::muted_until`], for the user whose list it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muted_until: Option<DateTime<Utc>>,
}

/// A member's standing for posting in a room: their membership and the room's post policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderStanding {
    pub room_id: RoomId,
    pub participant: Participant,
    pub post_policy: PostPolicy,
}

impl SenderStanding {
    /// Why the member may not post at `now`, if they may not: muted, or not an admin where
    /// only admins post.
    pub fn refusal(&self, now: DateTime<Utc>) -> Option<&'static str> {
        if self.participant.is_muted(now) {
            Some("muted in this room")
        } else if self.post_policy == PostPolicy::Admins && self.participant.role < Role::Admin {
            Some("only the owner and admins post in this room")
        } else {
            None
        }
    }
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
    fn topics_are_trimmed_limited_to_250_characters_and_visible() {
        assert_eq!(RoomTopic::parse(" plans ").unwrap().as_str(), "plans");
        assert!(RoomTopic::parse(&"t".repeat(250)).is_ok());
        assert!(RoomTopic::parse(&"t".repeat(251)).is_err());
        assert!(RoomTopic::parse("").is_err());
        assert!(RoomTopic::parse("\u{200B}").is_err());
        assert!(RoomTopic::parse("a\u{202E}b").is_err());
    }

    #[test]
    fn a_room_read_back_from_its_serialized_form_is_checked_like_input() {
        let room = Room {
            id: RoomId::generate(),
            name: RoomName::parse("team").unwrap(),
            topic: Some(RoomTopic::parse("plans").unwrap()),
            post_policy: PostPolicy::Admins,
            room_type: RoomType::Group,
            created_by: UserId::generate(),
            created_at: chrono::Utc::now(),
            is_active: true,
        };
        let bytes = serde_json::to_vec(&room).unwrap();
        assert_eq!(serde_json::from_slice::<Room>(&bytes).unwrap(), room);
        let mut value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        value["name"] = "".into();
        assert!(serde_json::from_value::<Room>(value).is_err());
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

    #[test]
    fn a_standing_refuses_the_muted_and_non_admins_of_admin_only_rooms() {
        use chrono::TimeZone;
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut standing = SenderStanding {
            room_id: RoomId::generate(),
            participant: Participant {
                user_id: UserId::generate(),
                role: Role::Member,
                joined_at: now,
                last_read_seq: 0,
                muted_until: None,
            },
            post_policy: PostPolicy::Everyone,
        };
        assert_eq!(standing.refusal(now), None);
        standing.participant.muted_until = Some(now + chrono::Duration::minutes(1));
        assert_eq!(standing.refusal(now), Some("muted in this room"));
        assert_eq!(standing.refusal(now + chrono::Duration::minutes(1)), None, "the mute ended");
        standing.post_policy = PostPolicy::Admins;
        assert_eq!(
            standing.refusal(now + chrono::Duration::minutes(1)),
            Some("only the owner and admins post in this room")
        );
        standing.participant.role = Role::Admin;
        assert_eq!(standing.refusal(now + chrono::Duration::minutes(1)), None);
    }
}
