use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::errors::StoreError;
use crate::domain::{
    Ban, Participant, PostPolicy, Role, Room, RoomId, RoomName, RoomSummary, RoomTopic, SenderStanding, Seq,
    UserId, WebhookEvent,
};

pub enum DirectRoomOutcome {
    Created(Room),
    /// The pair already had a direct room; this is it.
    Existing(Room),
}

/// What an update of a room sets: a field left `None` stays as it is; `topic: Some(None)`
/// clears the topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomUpdate {
    pub name: Option<RoomName>,
    pub topic: Option<Option<RoomTopic>>,
    pub post_policy: Option<PostPolicy>,
}

pub enum AddMemberOutcome {
    Added(Participant),
    /// The user was an active participant already; nothing changed.
    AlreadyMember(Participant),
}

/// Where a room list stops counting unread messages: a room with a long unread history costs
/// no more than this; a client shows it as "999+".
pub const UNREAD_CAP: u64 = 1000;

/// Rooms and their participants. A participant row is never deleted: leaving marks it inactive,
/// and joining again reactivates it with a fresh role and join time.
///
/// A change that webhooks hear of takes its `event`, and enqueues its deliveries (as
/// [`super::WebhookStore::enqueue`] does) in the same transaction, when and only when the change
/// is made: a change is never stored without its event, nor an event without its change.
#[async_trait]
pub trait RoomStore: Send + Sync {
    /// Stores a group or channel room with its initial participants, and `event`.
    async fn create(
        &self,
        room: &Room,
        participants: &[(UserId, Role)],
        event: &WebhookEvent,
    ) -> Result<(), StoreError>;

    /// Stores a direct room between its creator and `other`, with `event`, unless that pair (in
    /// either order) has one already, in which case that room is returned and `event` is not
    /// recorded. Safe under concurrent calls.
    async fn create_direct(
        &self,
        room: &Room,
        other: UserId,
        event: &WebhookEvent,
    ) -> Result<DirectRoomOutcome, StoreError>;

    async fn get(&self, id: RoomId) -> Result<Option<Room>, StoreError>;

    /// Applies `update` and returns the room as it stands afterwards; `None` for no such room.
    async fn update(&self, id: RoomId, update: &RoomUpdate) -> Result<Option<Room>, StoreError>;

    /// The user's membership, if active.
    async fn participant(&self, room: RoomId, user: UserId) -> Result<Option<Participant>, StoreError>;

    /// The standing of each asked (room, user) pair that is an active participation, in any
    /// order; the others are left out. For checking many senders at once: the default asks one
    /// pair at a time, a store over the network does better in one query.
    async fn standings(&self, pairs: &[(RoomId, UserId)]) -> Result<Vec<SenderStanding>, StoreError> {
        let mut standings = Vec::new();
        for &(room_id, user) in pairs {
            if let Some(participant) = self.participant(room_id, user).await?
                && let Some(room) = self.get(room_id).await?
            {
                standings.push(SenderStanding { room_id, participant, post_policy: room.post_policy });
            }
        }
        Ok(standings)
    }

    /// Active participants, in the order they joined (those who joined together: owner first,
    /// then admins, then members).
    async fn members(&self, room: RoomId) -> Result<Vec<Participant>, StoreError>;

    /// Makes `user` an active participant with `event`; an active participant already stays
    /// as they are, and `event` is not recorded.
    async fn add_member(
        &self,
        room: RoomId,
        user: UserId,
        role: Role,
        at: DateTime<Utc>,
        event: &WebhookEvent,
    ) -> Result<AddMemberOutcome, StoreError>;

    /// Ends a membership with `event`; `false` (and `event` not recorded) when the user was
    /// not an active participant.
    async fn remove_member(
        &self,
        room: RoomId,
        user: UserId,
        event: &WebhookEvent,
    ) -> Result<bool, StoreError>;

    /// The user's active rooms, most recently created first, with read state: the messages after
    /// the read marker are counted up to [`UNREAD_CAP`].
    async fn rooms_of(&self, user: UserId) -> Result<Vec<RoomSummary>, StoreError>;

    /// [`Self::rooms_of`], counting only the unread messages up to seq `through`: with every
    /// entry up to `through` stored, a count that later messages cannot have reached yet.
    async fn rooms_of_through(&self, user: UserId, through: Seq) -> Result<Vec<RoomSummary>, StoreError>;

    /// The entry of `room` in the user's room list, as [`Self::rooms_of`] has it; `None` when
    /// the user is not an active participant.
    async fn summary(&self, room: RoomId, user: UserId) -> Result<Option<RoomSummary>, StoreError>;

    /// Moves the user's read marker to `seq` if that is forward, and returns the marker as it
    /// stands afterwards (never lower than before, even under concurrent calls). `None` when the
    /// user is not an active participant.
    async fn mark_read(&self, room: RoomId, user: UserId, seq: Seq) -> Result<Option<Seq>, StoreError>;

    /// Gives an active participant another role and returns them as they stand; `None` when
    /// the user is not an active participant.
    async fn set_role(
        &self,
        room: RoomId,
        user: UserId,
        role: Role,
    ) -> Result<Option<Participant>, StoreError>;

    /// Stores a ban, replacing the user's earlier ban of the room if any. Membership is left
    /// as it is: the caller removes a banned member.
    async fn ban(&self, ban: &Ban) -> Result<(), StoreError>;

    /// Lifts the user's ban of the room; `false` when there was none.
    async fn unban(&self, room: RoomId, user: UserId) -> Result<bool, StoreError>;

    /// The user's ban of the room, expired or not.
    async fn ban_of(&self, room: RoomId, user: UserId) -> Result<Option<Ban>, StoreError>;

    /// The room's bans, expired ones included, newest first.
    async fn bans(&self, room: RoomId) -> Result<Vec<Ban>, StoreError>;

    /// Mutes an active participant until `until` (`None` unmutes) and returns them as they
    /// stand; `None` when the user is not an active participant. The mute outlives leaving and
    /// rejoining.
    async fn set_muted_until(
        &self,
        room: RoomId,
        user: UserId,
        until: Option<DateTime<Utc>>,
    ) -> Result<Option<Participant>, StoreError>;
}
