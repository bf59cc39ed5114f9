use async_trait::async_trait;
use chat_shared::domain::{
    Ban, BanReason, Participant, PostPolicy, Role, Room, RoomId, RoomName, RoomSummary, RoomTopic, Seq,
    UserId, WebhookEvent,
};
use chat_shared::ports::{
    AddMemberOutcome, DirectRoomOutcome, RoomStore, RoomUpdate, StoreError, UNREAD_CAP,
};
use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use crate::rows::{
    BAN_COLUMNS, BanRow, PARTICIPANT_COLUMNS, ParticipantRow, ROOM_COLUMNS, RoomRow, SummaryRow, direct_key,
};

use super::db::SqliteDb;
use super::errors::store_error;
use super::webhooks::enqueue_in;
use crate::rows::{seq_from_db, seq_to_db};

#[derive(Clone)]
pub struct SqliteRoomStore {
    db: SqliteDb,
}

impl SqliteRoomStore {
    /// The user's room list, counting the unread messages up to seq `through`.
    async fn room_list(&self, user: UserId, through: Seq) -> Result<Vec<RoomSummary>, StoreError> {
        sqlx::query_as::<_, SummaryRow>(&format!(
            "{} order by r.created_at desc, r.id desc",
            summaries_of("p.user_id = ?1", "and m.seq <= ?2")
        ))
        .bind(user.as_uuid())
        .bind(i64::try_from(through).unwrap_or(i64::MAX))
        .fetch_all(&self.db.readers)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(RoomSummary::try_from)
        .collect()
    }

    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

/// Inserts the room; `false` when its direct key is taken (the pair has a room already).
async fn insert_room(
    tx: &mut SqliteConnection,
    room: &Room,
    direct_key: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "insert into rooms (id, name, topic, post_policy, type, created_by, direct_key, created_at, is_active)
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         on conflict (direct_key) do nothing",
    )
    .bind(room.id.as_uuid())
    .bind(room.name.as_str())
    .bind(room.topic.as_ref().map(RoomTopic::as_str))
    .bind(room.post_policy.as_str())
    .bind(room.room_type.as_str())
    .bind(room.created_by.as_uuid())
    .bind(direct_key)
    .bind(room.created_at)
    .bind(room.is_active)
    .execute(&mut *tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

async fn insert_participants(
    tx: &mut SqliteConnection,
    room: &Room,
    participants: &[(UserId, Role)],
) -> Result<(), sqlx::Error> {
    for (user, role) in participants {
        sqlx::query("insert into participants (room_id, user_id, role, joined_at) values (?1, ?2, ?3, ?4)")
            .bind(room.id.as_uuid())
            .bind(user.as_uuid())
            .bind(role.as_str())
            .bind(room.created_at)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

#[async_trait]
impl RoomStore for SqliteRoomStore {
    async fn create(
        &self,
        room: &Room,
        participants: &[(UserId, Role)],
        event: &WebhookEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.write().await.map_err(store_error)?;
        insert_room(&mut tx, room, None).await.map_err(store_error)?;
        insert_participants(&mut tx, room, participants).await.map_err(store_error)?;
        enqueue_in(&mut tx, event).await?;
        tx.commit().await.map_err(store_error)
    }

    async fn create_direct(
        &self,
        room: &Room,
        other: UserId,
        event: &WebhookEvent,
    ) -> Result<DirectRoomOutcome, StoreError> {
        let key = direct_key(room.created_by, other);
        // On the one writer connection, a concurrent call's room is either committed before
        // this transaction starts or created after it ends: never half seen.
        let mut tx = self.db.write().await.map_err(store_error)?;
        if insert_room(&mut tx, room, Some(&key)).await.map_err(store_error)? {
            let participants = [(room.created_by, Role::Owner), (other, Role::Member)];
            insert_participants(&mut tx, room, &participants).await.map_err(store_error)?;
            enqueue_in(&mut tx, event).await?;
            tx.commit().await.map_err(store_error)?;
            return Ok(DirectRoomOutcome::Created(room.clone()));
        }
        let existing = sqlx::query_as::<_, RoomRow>(&format!(
            "select {ROOM_COLUMNS} from rooms r where r.direct_key = ?1"
        ))
        .bind(&key)
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?;
        Ok(DirectRoomOutcome::Existing(existing.try_into()?))
    }

    async fn get(&self, id: RoomId) -> Result<Option<Room>, StoreError> {
        sqlx::query_as::<_, RoomRow>(&format!("select {ROOM_COLUMNS} from rooms r where r.id = ?1"))
            .bind(id.as_uuid())
            .fetch_optional(&self.db.readers)
            .await
            .map_err(store_error)?
            .map(Room::try_from)
            .transpose()
    }

    async fn update(&self, id: RoomId, update: &RoomUpdate) -> Result<Option<Room>, StoreError> {
        // Each field is set only when given: `?2`/`?4` say whether to set name and topic.
        // SQLite's `returning` names columns without a table.
        sqlx::query_as::<_, RoomRow>(&format!(
            "update rooms set
                 name = case when ?2 then ?3 else name end,
                 topic = case when ?4 then ?5 else topic end,
                 post_policy = coalesce(?6, post_policy)
             where id = ?1
             returning {}",
            ROOM_COLUMNS.replace("r.", "")
        ))
        .bind(id.as_uuid())
        .bind(update.name.is_some())
        .bind(update.name.as_ref().map(RoomName::as_str))
        .bind(update.topic.is_some())
        .bind(update.topic.as_ref().and_then(|t| t.as_ref().map(RoomTopic::as_str)))
        .bind(update.post_policy.map(PostPolicy::as_str))
        .fetch_optional(&self.db.writer)
        .await
        .map_err(store_error)?
        .map(Room::try_from)
        .transpose()
    }

    async fn participant(&self, room: RoomId, user: UserId) -> Result<Option<Participant>, StoreError> {
        sqlx::query_as::<_, ParticipantRow>(&format!(
            "select {PARTICIPANT_COLUMNS} from participants p
             where p.room_id = ?1 and p.user_id = ?2 and p.is_active"
        ))
        .bind(room.as_uuid())
        .bind(user.as_uuid())
        .fetch_optional(&self.db.readers)
        .await
        .map_err(store_error)?
        .map(Participant::try_from)
        .transpose()
    }

    async fn members(&self, room: RoomId) -> Result<Vec<Participant>, StoreError> {
        sqlx::query_as::<_, ParticipantRow>(&format!(
            "select {PARTICIPANT_COLUMNS} from participants p
             where p.room_id = ?1 and p.is_active
             order by p.joined_at,
                      case p.role when 'owner' then 0 when 'admin' then 1 else 2 end,
                      p.user_id"
        ))
        .bind(room.as_uuid())
        .fetch_all(&self.db.readers)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(Participant::try_from)
        .collect()
    }

    async fn add_member(
        &self,
        room: RoomId,
        user: UserId,
        role: Role,
        at: DateTime<Utc>,
        event: &WebhookEvent,
    ) -> Result<AddMemberOutcome, StoreError> {
        // Inserts, or reactivates a row whose user had left; an active row is left untouched
        // and then read back below. Rejoining keeps the read marker. (SQLite's `returning`
        // takes no table alias.)
        let mut tx = self.db.write().await.map_err(store_error)?;
        let added = sqlx::query_as::<_, ParticipantRow>(
            "insert into participants as p (room_id, user_id, role, joined_at)
             values (?1, ?2, ?3, ?4)
             on conflict (room_id, user_id) do update
                 set role = excluded.role, joined_at = excluded.joined_at, is_active = 1
                 where not p.is_active
             returning user_id, role, joined_at, last_read_seq, muted_until",
        )
        .bind(room.as_uuid())
        .bind(user.as_uuid())
        .bind(role.as_str())
        .bind(at)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        if let Some(row) = added {
            enqueue_in(&mut tx, event).await?;
            tx.commit().await.map_err(store_error)?;
            return Ok(AddMemberOutcome::Added(row.try_into()?));
        }
        drop(tx);
        let existing = self
            .participant(room, user)
            .await?
            .ok_or_else(|| StoreError::other("participant vanished while being added"))?;
        Ok(AddMemberOutcome::AlreadyMember(existing))
    }

    async fn remove_member(
        &self,
        room: RoomId,
        user: UserId,
        event: &WebhookEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db.write().await.map_err(store_error)?;
        let done = sqlx::query(
            "update participants set is_active = 0
             where room_id = ?1 and user_id = ?2 and is_active",
        )
        .bind(room.as_uuid())
        .bind(user.as_uuid())
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        enqueue_in(&mut tx, event).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn rooms_of(&self, user: UserId) -> Result<Vec<RoomSummary>, StoreError> {
        self.room_list(user, Seq::MAX).await
    }

    async fn rooms_of_through(&self, user: UserId, through: Seq) -> Result<Vec<RoomSummary>, StoreError> {
        self.room_list(user, through).await
    }

    async fn summary(&self, room: RoomId, user: UserId) -> Result<Option<RoomSummary>, StoreError> {
        sqlx::query_as::<_, SummaryRow>(&summaries_of("p.user_id = ?1 and p.room_id = ?2", ""))
            .bind(user.as_uuid())
            .bind(room.as_uuid())
            .fetch_optional(&self.db.readers)
            .await
            .map_err(store_error)?
            .map(RoomSummary::try_from)
            .transpose()
    }

    async fn mark_read(&self, room: RoomId, user: UserId, seq: Seq) -> Result<Option<Seq>, StoreError> {
        let marker: Option<i64> = sqlx::query_scalar(
            "update participants set last_read_seq = max(last_read_seq, ?3)
             where room_id = ?1 and user_id = ?2 and is_active
             returning last_read_seq",
        )
        .bind(room.as_uuid())
        .bind(user.as_uuid())
        .bind(seq_to_db(seq))
        .fetch_optional(&self.db.writer)
        .await
        .map_err(store_error)?;
        Ok(marker.map(seq_from_db))
    }

    async fn set_role(
        &self,
        room: RoomId,
        user: UserId,
        role: Role,
    ) -> Result<Option<Participant>, StoreError> {
        sqlx::query_as::<_, ParticipantRow>(
            "update participants set role = ?3
             where room_id = ?1 and user_id = ?2 and is_active
             returning user_id, role, joined_at, last_read_seq, muted_until",
        )
        .bind(room.as_uuid())
        .bind(user.as_uuid())
        .bind(role.as_str())
        .fetch_optional(&self.db.writer)
        .await
        .map_err(store_error)?
        .map(Participant::try_from)
        .transpose()
    }

    async fn ban(&self, ban: &Ban) -> Result<(), StoreError> {
        sqlx::query(
            "insert into room_bans (room_id, user_id, banned_by, reason, created_at, expires_at)
             values (?1, ?2, ?3, ?4, ?5, ?6)
             on conflict (room_id, user_id) do update
                 set banned_by = excluded.banned_by, reason = excluded.reason,
                     created_at = excluded.created_at, expires_at = excluded.expires_at",
        )
        .bind(ban.room_id.as_uuid())
        .bind(ban.user_id.as_uuid())
        .bind(ban.banned_by.as_uuid())
        .bind(ban.reason.as_ref().map(BanReason::as_str))
        .bind(ban.created_at)
        .bind(ban.expires_at)
        .execute(&self.db.writer)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn unban(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        let done = sqlx::query("delete from room_bans where room_id = ?1 and user_id = ?2")
            .bind(room.as_uuid())
            .bind(user.as_uuid())
            .execute(&self.db.writer)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn ban_of(&self, room: RoomId, user: UserId) -> Result<Option<Ban>, StoreError> {
        sqlx::query_as::<_, BanRow>(&format!(
            "select {BAN_COLUMNS} from room_bans where room_id = ?1 and user_id = ?2"
        ))
        .bind(room.as_uuid())
        .bind(user.as_uuid())
        .fetch_optional(&self.db.readers)
        .await
        .map_err(store_error)?
        .map(Ban::try_from)
        .transpose()
    }

    async fn bans(&self, room: RoomId) -> Result<Vec<Ban>, StoreError> {
        sqlx::query_as::<_, BanRow>(&format!(
            "select {BAN_COLUMNS} from room_bans where room_id = ?1 order by created_at desc, user_id desc"
        ))
        .bind(room.as_uuid())
        .fetch_all(&self.db.readers)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(Ban::try_from)
        .collect()
    }

    async fn set_muted_until(
        &self,
        room: RoomId,
        user: UserId,
        until: Option<DateTime<Utc>>,
    ) -> Result<Option<Participant>, StoreError> {
        sqlx::query_as::<_, ParticipantRow>(
            "update participants set muted_until = ?3
             where room_id = ?1 and user_id = ?2 and is_active
             returning user_id, role, joined_at, last_read_seq, muted_until",
        )
        .bind(room.as_uuid())
        .bind(user.as_uuid())
        .bind(until)
        .fetch_optional(&self.db.writer)
        .await
        .map_err(store_error)?
        .map(Participant::try_from)
        .transpose()
    }
}

/// The room list's query for the participants that `condition` picks, counting the unread
/// messages that `bound` (more of the count's condition on `m`) leaves. The unread count reads
/// the (room_id, seq) index from the read marker on, and stops at UNREAD_CAP entries, so a room
/// with a long unread history costs no more than that.
fn summaries_of(condition: &str, bound: &str) -> String {
    format!(
        "select {ROOM_COLUMNS}, p.role, p.last_read_seq, p.muted_until,
                (select count(*) from (select 1 from messages m
                     where m.room_id = r.id and m.seq > p.last_read_seq {bound}
                     limit {UNREAD_CAP})) as unread_count
         from participants p join rooms r on r.id = p.room_id
         where {condition} and p.is_active"
    )
}
