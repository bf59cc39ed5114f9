//! The stream name and subjects of one deployment, all derived from its prefix so that
//! deployments (and tests) sharing a NATS server never see each other's messages.

use super::error::NatsError;

#[derive(Clone, Debug)]
pub(super) struct Names {
    prefix: String,
}

impl Names {
    pub(super) fn new(prefix: &str) -> Result<Self, NatsError> {
        Ok(Self { prefix: token("prefix", prefix)?.to_owned() })
    }

    /// `{P}_messages`: a stream name cannot contain the `.` that separates subject tokens.
    pub(super) fn stream(&self) -> String {
        format!("{}_messages", self.prefix)
    }

    /// `{P}.msg.*`: what the stream stores, one subject per room, so that the server keeps the
    /// previous sequence of each room for the republished `Nats-Last-Sequence`.
    pub(super) fn stored(&self) -> String {
        format!("{}.msg.*", self.prefix)
    }

    /// `{P}.msg.>`: every room, for republishing and for the persister's consumer.
    pub(super) fn all_rooms(&self) -> String {
        format!("{}.msg.>", self.prefix)
    }

    /// `{P}.live.>`: where the server republishes what it stored, over core NATS.
    pub(super) fn all_live(&self) -> String {
        format!("{}.live.>", self.prefix)
    }

    /// `{P}.msg.<room>`: where a room's messages are appended. Built for every append, so
    /// without `format!`.
    pub(super) fn room(&self, room: &str) -> Result<String, NatsError> {
        Ok([self.prefix.as_str(), ".msg.", token("room", room)?].concat())
    }

    /// `{P}.events.<room>`: a room's ephemeral events (presence, typing, reads, membership),
    /// outside the stream's subjects so they are never stored.
    pub(super) fn events(&self, room: &str) -> Result<String, NatsError> {
        Ok(format!("{}.events.{}", self.prefix, token("room", room)?))
    }

    /// `{P}.users.<user>`: one user's feed (changes to their rooms, their read markers),
    /// outside the stream's subjects.
    pub(super) fn user(&self, user: &str) -> Result<String, NatsError> {
        Ok(format!("{}.users.{}", self.prefix, token("user", user)?))
    }

    /// `{P}.logins.ended`: announcements of ended logins, outside the stream's subjects.
    pub(super) fn logins_ended(&self) -> String {
        format!("{}.logins.ended", self.prefix)
    }

    /// `{P}.live.<room>`: where a room's stored messages are republished.
    pub(super) fn live(&self, room: &str) -> Result<String, NatsError> {
        Ok(format!("{}.live.{}", self.prefix, token("room", room)?))
    }
}

/// Checks that `value` is one subject token that is also a valid stream or consumer name.
/// NATS gives `.`, `*`, `>` and whitespace meaning, so this allows only letters, digits, `-`
/// and `_` (a UUID string passes), and a room can never reach another room's subject.
pub(super) fn token<'a>(what: &'static str, value: &'a str) -> Result<&'a str, NatsError> {
    let valid =
        !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid { Ok(value) } else { Err(NatsError::InvalidName { what, value: value.to_owned() }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_derives_from_the_prefix() {
        let names = Names::new("t_1").unwrap();
        let room = "0195f4e2-8a7c-7d3e-9b1a-2c4d6e8f0a1b";
        assert_eq!(names.stream(), "t_1_messages");
        assert_eq!(names.stored(), "t_1.msg.*");
        assert_eq!(names.room(room).unwrap(), format!("t_1.msg.{room}"));
        assert_eq!(names.live(room).unwrap(), format!("t_1.live.{room}"));
        assert_eq!(names.logins_ended(), "t_1.logins.ended");
        assert_eq!(names.user(room).unwrap(), format!("t_1.users.{room}"));
    }

    #[test]
    fn a_room_that_would_span_several_subject_tokens_is_rejected() {
        let names = Names::new("t_1").unwrap();
        for room in ["", "a.b", "*", ">", "a b", "é"] {
            assert!(
                matches!(names.room(room), Err(NatsError::InvalidName { what: "room", .. })),
                "{room:?} was accepted"
            );
        }
    }

    #[test]
    fn a_prefix_with_a_dot_is_rejected() {
        assert!(Names::new("prod.eu").is_err());
    }
}
