use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::messages::MemoryMessageStore;
use super::webhooks::MemoryWebhookStore;
use crate::domain::{Ban, Participant, Role, Room, RoomId, RoomSummary, Seq, UserId, WebhookEvent};
use crate::ports::{AddMemberOutcome, DirectRoomOutcome, RoomStore, RoomUpdate, StoreError, UNREAD_CAP};

/// Rooms and participants; unread counts come from the message store it is given, as a
/// database's come from its messages table (none given: nothing is unread), and changes'
/// events go to the webhook store it is given (none given: they are dropped).
#[derive(Default)]
pub struct MemoryRoomStore {
    state: Mutex<State>,
    messages: Option<Arc<MemoryMessageStore>>,
    webhooks: Option<Arc<MemoryWebhookStore>>,
}

#[derive(Default)]
struct State {
    rooms: HashMap<RoomId, Room>,
    /// Every participant row ever made, active or not, in join order per room.
    participants: HashMap<RoomId, Vec<Row>>,
    /// Direct rooms by their ordered pair of users.
    direct: HashMap<(UserId, UserId), RoomId>,
    bans: HashMap<(RoomId, UserId), Ban>,
}

#[derive(Clone)]
struct Row {
    participant: Participant,
    active: bool,
}

fn pair(a: UserId, b: UserId) -> (UserId, UserId) {
    if a <= b { (a, b) } else { (b, a) }
}

impl MemoryRoomStore {
    pub fn counting_unread_in(messages: Arc<MemoryMessageStore>) -> Self {
        Self { state: Mutex::default(), messages: Some(messages), webhooks: None }
    }

    /// This store, enqueueing its changes' events in `webhooks`.
    pub fn recording_events_in(self, webhooks: Arc<MemoryWebhookStore>) -> Self {
        Self { webhooks: Some(webhooks), ..self }
    }

    /// Enqueues a change's event; called with the state locked, so nobody sees the change
    /// without it.
    fn record(&self, event: &WebhookEvent) {
        if let Some(webhooks) = &self.webhooks {
            webhooks.enqueue_now(event);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn summary_in(&self, state: &State, room_id: RoomId, user: UserId) -> Option<RoomSummary> {
        self.summary_through(state, room_id, user, Seq::MAX)
    }

    fn summary_through(
        &self,
        state: &State,
        room_id: RoomId,
        user: UserId,
        through: Seq,
    ) -> Option<RoomSummary> {
        let rows = state.participants.get(&room_id)?;
        let row = rows.iter().find(|r| r.active && r.participant.user_id == user)?;
        let room = state.rooms.get(&room_id)?;
        Some(RoomSummary {
            room: room.clone(),
            role: row.participant.role,
            last_read_seq: row.participant.last_read_seq,
            unread_count: self.messages.as_ref().map_or(0, |messages| {
                messages.count_between(room_id, row.participant.last_read_seq, through, UNREAD_CAP)
            }),
            muted_until: row.participant.muted_until,
        })
    }
}

impl State {
    fn insert(&mut self, room: &Room, participants: &[(UserId, Role)]) {
        self.rooms.insert(room.id, room.clone());
        let rows = participants
            .iter()
            .map(|(user_id, role)| Row {
                participant: Participant {
                    user_id: *user_id,
                    role: *role,
                    joined_at: room.created_at,
                    last_read_seq: 0,
                    muted_until: None,
                },
                active: true,
            })
            .collect();
        self.participants.insert(room.id, rows);
    }

    fn row_mut(&mut self, room: RoomId, user: UserId) -> Option<&mut Row> {
        self.participants.get_mut(&room)?.iter_mut().find(|r| r.participant.user_id == user)
    }
}

#[async_trait]
impl RoomStore for MemoryRoomStore {
    async fn create(
        &self,
        room: &Room,
        participants: &[(UserId, Role)],
        event: &WebhookEvent,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        state.insert(room, participants);
        self.record(event);
        Ok(())
    }

    async fn create_direct(
        &self,
        room: &Room,
        other: UserId,
        event: &WebhookEvent,
    ) -> Result<DirectRoomOutcome, StoreError> {
        let mut state = self.lock();
        let key = pair(room.created_by, other);
        if let Some(existing) = state.direct.get(&key).and_then(|id| state.rooms.get(id)) {
            return Ok(DirectRoomOutcome::Existing(existing.clone()));
        }
        state.insert(room, &[(room.created_by, Role::Owner), (other, Role::Member)]);
        state.direct.insert(key, room.id);
        self.record(event);
        Ok(DirectRoomOutcome::Created(room.clone()))
    }

    async fn get(&self, id: RoomId) -> Result<Option<Room>, StoreError> {
        Ok(self.lock().rooms.get(&id).cloned())
    }

    async fn update(&self, id: RoomId, update: &RoomUpdate) -> Result<Option<Room>, StoreError> {
        let mut state = self.lock();
        let Some(room) = state.rooms.get_mut(&id) else { return Ok(None) };
        if let Some(name) = &update.name {
            room.name = name.clone();
        }
        if let Some(topic) = &update.topic {
            room.topic = topic.clone();
        }
        if let Some(policy) = update.post_policy {
            room.post_policy = policy;
        }
        Ok(Some(room.clone()))
    }

    async fn participant(&self, room: RoomId, user: UserId) -> Result<Option<Participant>, StoreError> {
        Ok(self.lock().row_mut(room, user).filter(|r| r.active).map(|r| r.participant.clone()))
    }

    async fn members(&self, room: RoomId) -> Result<Vec<Participant>, StoreError> {
        let state = self.lock();
        let rows = state.participants.get(&room).map(Vec::as_slice).unwrap_or_default();
        let mut members: Vec<Participant> =
            rows.iter().filter(|r| r.active).map(|r| r.participant.clone()).collect();
        members.sort_by_key(|p| (p.joined_at, Reverse(p.role), p.user_id));
        Ok(members)
    }

    async fn add_member(
        &self,
        room: RoomId,
        user: UserId,
        role: Role,
        at: DateTime<Utc>,
        event: &WebhookEvent,
    ) -> Result<AddMemberOutcome, StoreError> {
        let mut state = self.lock();
        let fresh = Participant { user_id: user, role, joined_at: at, last_read_seq: 0, muted_until: None };
        let added = match state.row_mut(room, user) {
            Some(row) if row.active => return Ok(AddMemberOutcome::AlreadyMember(row.participant.clone())),
            Some(row) => {
                // Rejoining keeps the read marker: what was read stays read.
                row.participant = Participant {
                    last_read_seq: row.participant.last_read_seq,
                    muted_until: row.participant.muted_until,
                    ..fresh
                };
                row.active = true;
                row.participant.clone()
            }
            None => {
                state
                    .participants
                    .entry(room)
                    .or_default()
                    .push(Row { participant: fresh.clone(), active: true });
                fresh
            }
        };
        self.record(event);
        Ok(AddMemberOutcome::Added(added))
    }

    async fn remove_member(
        &self,
        room: RoomId,
        user: UserId,
        event: &WebhookEvent,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        match state.row_mut(room, user) {
            Some(row) if row.active => {
                row.active = false;
                self.record(event);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn rooms_of(&self, user: UserId) -> Result<Vec<RoomSummary>, StoreError> {
        let state = self.lock();
        let mut summaries: Vec<RoomSummary> =
            state.participants.keys().filter_map(|room| self.summary_in(&state, *room, user)).collect();
        summaries.sort_by(|a, b| b.room.created_at.cmp(&a.room.created_at).then(b.room.id.cmp(&a.room.id)));
        Ok(summaries)
    }

    async fn rooms_of_through(&self, user: UserId, through: Seq) -> Result<Vec<RoomSummary>, StoreError> {
        let state = self.lock();
        let mut summaries: Vec<RoomSummary> = state
            .participants
            .keys()
            .filter_map(|room| self.summary_through(&state, *room, user, through))
            .collect();
        summaries.sort_by(|a, b| b.room.created_at.cmp(&a.room.created_at).then(b.room.id.cmp(&a.room.id)));
        Ok(summaries)
    }

    async fn summary(&self, room: RoomId, user: UserId) -> Result<Option<RoomSummary>, StoreError> {
        Ok(self.summary_in(&self.lock(), room, user))
    }

    async fn mark_read(&self, room: RoomId, user: UserId, seq: Seq) -> Result<Option<Seq>, StoreError> {
        let mut state = self.lock();
        Ok(state.row_mut(room, user).filter(|r| r.active).map(|row| {
            row.participant.last_read_seq = row.participant.last_read_seq.max(seq);
            row.participant.last_read_seq
        }))
    }

    async fn set_role(
        &self,
        room: RoomId,
        user: UserId,
        role: Role,
    ) -> Result<Option<Participant>, StoreError> {
        let mut state = self.lock();
        Ok(state.row_mut(room, user).filter(|r| r.active).map(|row| {
            row.participant.role = role;
            row.participant.clone()
        }))
    }

    async fn ban(&self, ban: &Ban) -> Result<(), StoreError> {
        self.lock().bans.insert((ban.room_id, ban.user_id), ban.clone());
        Ok(())
    }

    async fn unban(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        Ok(self.lock().bans.remove(&(room, user)).is_some())
    }

    async fn ban_of(&self, room: RoomId, user: UserId) -> Result<Option<Ban>, StoreError> {
        Ok(self.lock().bans.get(&(room, user)).cloned())
    }

    async fn bans(&self, room: RoomId) -> Result<Vec<Ban>, StoreError> {
        let state = self.lock();
        let mut bans: Vec<Ban> = state.bans.values().filter(|b| b.room_id == room).cloned().collect();
        bans.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.user_id.cmp(&a.user_id)));
        Ok(bans)
    }

    async fn set_muted_until(
        &self,
        room: RoomId,
        user: UserId,
        until: Option<DateTime<Utc>>,
    ) -> Result<Option<Participant>, StoreError> {
        let mut state = self.lock();
        Ok(state.row_mut(room, user).filter(|r| r.active).map(|row| {
            row.participant.muted_until = until;
            row.participant.clone()
        }))
    }
}
