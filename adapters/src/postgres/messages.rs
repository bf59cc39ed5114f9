use std::collections::{BTreeMap, btree_map};
use std::sync::{Arc, LazyLock, OnceLock};

use async_trait::async_trait;
use chat_shared::domain::{
    Change, ChangeKind, ClientMsgId, Message, Reaction, ReactionKey, RoomId, SentCursor, Seq, UserId,
    apply_change,
};
use chat_shared::ports::{MessageRef, MessageStore, PageQuery, Redacted, StoreError, StoredReactions};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgArguments, PgPoolCopyExt};
use sqlx::query::Query;
use sqlx::{PgConnection, PgPool, Postgres};
use uuid::Uuid;

use super::client_ids::ClientIdLookup;
use super::errors::store_error;
use super::message_copy::{self, COPY_MESSAGES};
use super::replies;
use crate::rows::{MESSAGE_COLUMNS as COLUMNS, MessageRow};
use crate::rows::{seq_from_db, seq_to_db};

#[derive(Clone)]
pub struct PgMessageStore {
    pool: PgPool,
    /// Started on the first lookup, so a store that never looks up (the persister's) runs no task.
    client_ids: Arc<OnceLock<ClientIdLookup>>,
}

impl PgMessageStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool, client_ids: Arc::default() }
    }

    /// Writes a batch none of whose messages is stored yet, in one statement.
    async fn copy_batch(&self, messages: &[Message]) -> Result<u64, sqlx::Error> {
        let mut copy = self.pool.copy_in_raw(COPY_MESSAGES).await?;
        copy.send(message_copy::encode(messages)).await?;
        copy.finish().await
    }

    /// Writes a batch in one statement, skipping each message whose (room, seq) is stored
    /// already.
    async fn insert_skipping_stored(&self, messages: &[Message]) -> Result<u64, StoreError> {
        let query = sqlx::query(&INSERT_SKIPPING_STORED);
        let done = MessageArrays::of(messages).bind(query).execute(&self.pool).await.map_err(store_error)?;
        Ok(done.rows_affected())
    }
}

/// The rows of `$1` to `$16`, bound by [`MessageArrays::bind`], in the order of `COLUMNS`.
const MESSAGE_ROWS: &str = "select * from unnest($1::uuid[], $2::uuid[], $3::int8[], $4::uuid[], $5::text[], \
     $6::text[], $7::text[]::jsonb[], $8::text[], $9::timestamptz[], $10::timestamptz[], $11::uuid[], \
     $12::timestamptz[], $13::int8[], $14::uuid[], $15::int8[], $16::uuid[])";

static INSERT_SKIPPING_STORED: LazyLock<String> = LazyLock::new(|| {
    format!("insert into messages ({COLUMNS}) {MESSAGE_ROWS} on conflict (room_id, seq) do nothing")
});

/// Messages as one array per column, to be bound as a statement's parameters.
struct MessageArrays<'a> {
    ids: Vec<Uuid>,
    rooms: Vec<Uuid>,
    seqs: Vec<i64>,
    senders: Vec<Uuid>,
    contents: Vec<&'a str>,
    kinds: Vec<&'a str>,
    metadata: Vec<Option<String>>,
    client_ids: Vec<Option<&'a str>>,
    created: Vec<DateTime<Utc>>,
    edited: Vec<Option<DateTime<Utc>>>,
    deleted_by: Vec<Option<Uuid>>,
    deleted: Vec<Option<DateTime<Utc>>>,
    changed_seqs: Vec<i64>,
    reply_to_ids: Vec<Option<Uuid>>,
    reply_to_seqs: Vec<Option<i64>>,
    reply_to_senders: Vec<Option<Uuid>>,
}

impl<'a> MessageArrays<'a> {
    fn of(messages: impl IntoIterator<Item = &'a Message>) -> Self {
        let mut arrays = Self {
            ids: Vec::new(),
            rooms: Vec::new(),
            seqs: Vec::new(),
            senders: Vec::new(),
            contents: Vec::new(),
            kinds: Vec::new(),
            metadata: Vec::new(),
            client_ids: Vec::new(),
            created: Vec::new(),
            edited: Vec::new(),
            deleted_by: Vec::new(),
            deleted: Vec::new(),
            changed_seqs: Vec::new(),
            reply_to_ids: Vec::new(),
            reply_to_seqs: Vec::new(),
            reply_to_senders: Vec::new(),
        };
        for m in messages {
            arrays.ids.push(m.id.as_uuid());
            arrays.rooms.push(m.room_id.as_uuid());
            arrays.seqs.push(seq_to_db(m.seq));
            arrays.senders.push(m.sender_id.as_uuid());
            arrays.contents.push(m.content.as_str());
            arrays.kinds.push(m.kind.as_str());
            arrays
                .metadata
                .push(m.metadata.as_object().map(|o| serde_json::Value::Object(o.clone()).to_string()));
            arrays.client_ids.push(m.client_msg_id.as_ref().map(ClientMsgId::as_str));
            arrays.created.push(m.created_at);
            arrays.edited.push(m.edited_at);
            arrays.deleted_by.push(m.deleted_by.map(|u| u.as_uuid()));
            arrays.deleted.push(m.deleted_at);
            arrays.changed_seqs.push(seq_to_db(m.changed_seq));
            arrays.reply_to_ids.push(m.reply_to.as_ref().map(|r| r.id.as_uuid()));
            arrays.reply_to_seqs.push(m.reply_to.as_ref().map(|r| seq_to_db(r.seq)));
            arrays.reply_to_senders.push(m.reply_to.as_ref().map(|r| r.sender_id.as_uuid()));
        }
        arrays
    }

    fn bind<'q>(self, query: Query<'q, Postgres, PgArguments>) -> Query<'q, Postgres, PgArguments>
    where
        'a: 'q,
    {
        query
            .bind(self.ids)
            .bind(self.rooms)
            .bind(self.seqs)
            .bind(self.senders)
            .bind(self.contents)
            .bind(self.kinds)
            .bind(self.metadata)
            .bind(self.client_ids)
            .bind(self.created)
            .bind(self.edited)
            .bind(self.deleted_by)
            .bind(self.deleted)
            .bind(self.changed_seqs)
            .bind(self.reply_to_ids)
            .bind(self.reply_to_seqs)
            .bind(self.reply_to_senders)
    }
}

#[async_trait]
impl MessageStore for PgMessageStore {
    async fn insert_batch(&self, messages: &[Message]) -> Result<u64, StoreError> {
        if messages.is_empty() {
            return Ok(0);
        }
        // COPY is the cheap path but fails whole on a key already taken; that happens only on
        // redelivery (a batch committed but not acknowledged), which the slower insert that
        // skips stored messages then absorbs.
        match self.copy_batch(messages).await {
            Ok(copied) => Ok(copied),
            Err(err) if err.as_database_error().is_some_and(|db| db.is_unique_violation()) => {
                self.insert_skipping_stored(messages).await
            }
            Err(err) => Err(store_error(err)),
        }
    }

    async fn page(&self, room: RoomId, query: PageQuery) -> Result<Vec<Message>, StoreError> {
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let before = query.before.map(seq_to_db);
        let rows = match query.after {
            Some(after) => {
                sqlx::query_as::<_, MessageRow<serde_json::Value>>(&format!(
                    "select {COLUMNS} from messages
                     where room_id = $1 and seq > $2 and ($3::int8 is null or seq < $3)
                     order by seq asc limit $4"
                ))
                .bind(room.as_uuid())
                .bind(seq_to_db(after))
                .bind(before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query_as::<_, MessageRow<serde_json::Value>>(&format!(
                    "select {COLUMNS} from messages
                     where room_id = $1 and ($2::int8 is null or seq < $2)
                     order by seq desc limit $3"
                ))
                .bind(room.as_uuid())
                .bind(before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(store_error)?;
        let mut messages = rows.into_iter().map(Message::try_from).collect::<Result<Vec<_>, _>>()?;
        messages.sort_by_key(|m| m.seq);
        Ok(messages)
    }

    async fn by_client_msg_id(&self, room: RoomId, id: &ClientMsgId) -> Result<Option<Message>, StoreError> {
        let lookup = self.client_ids.get_or_init(|| ClientIdLookup::start(&self.pool));
        lookup.find(room, id).await
    }

    async fn find(&self, room: RoomId, message: MessageRef) -> Result<Option<Message>, StoreError> {
        let row = match message {
            MessageRef::Seq(seq) => {
                sqlx::query_as::<_, MessageRow<serde_json::Value>>(&format!(
                    "select {COLUMNS} from messages where room_id = $1 and seq = $2"
                ))
                .bind(room.as_uuid())
                .bind(seq_to_db(seq))
                .fetch_optional(&self.pool)
                .await
            }
            // Ids are unique in practice (UUIDv7 made for each append), but nothing enforces
            // it: the lowest seq answers, as it does for a client id.
            MessageRef::Id(id) => {
                sqlx::query_as::<_, MessageRow<serde_json::Value>>(&format!(
                    "select {COLUMNS} from messages where id = $2 and room_id = $1 order by seq limit 1"
                ))
                .bind(room.as_uuid())
                .bind(id.as_uuid())
                .fetch_optional(&self.pool)
                .await
            }
        }
        .map_err(store_error)?;
        row.map(Message::try_from).transpose()
    }

    /// One transaction, in READ COMMITTED, safe beside any other writer of the same messages:
    /// see [`UPSERT_STATES`] for why its statements come in this order.
    async fn apply_changes(&self, changes: &[Change]) -> Result<Redacted, StoreError> {
        if changes.is_empty() {
            return Ok(Redacted::default());
        }
        let states = newest_states(changes);
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let upsert = sqlx::query(&UPSERT_STATES);
        MessageArrays::of(states.values()).bind(upsert).execute(&mut *tx).await.map_err(store_error)?;
        record_edits(&mut tx, changes).await?;
        let log_seqs = redacted_seqs(&mut tx, states.keys()).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(Redacted { log_seqs })
    }

    async fn apply_reactions(&self, reactions: &[Reaction]) -> Result<(), StoreError> {
        if reactions.is_empty() {
            return Ok(());
        }
        super::reactions::apply(&self.pool, reactions).await
    }

    async fn reactions(
        &self,
        room: RoomId,
        message_seqs: &[Seq],
        reader: UserId,
        watched: &[ReactionKey],
    ) -> Result<StoredReactions, StoreError> {
        super::reactions::read(&self.pool, room, message_seqs, reader, watched).await
    }

    /// Served by `messages_sender_idx`.
    async fn sent_by(
        &self,
        sender: UserId,
        after: Option<SentCursor>,
        limit: usize,
    ) -> Result<Vec<SentCursor>, StoreError> {
        // The lowest room id with seq 0 is before every message.
        let after = after.unwrap_or(SentCursor { room: RoomId::from_uuid(Uuid::nil()), seq: 0 });
        let rows: Vec<(Uuid, i64)> = sqlx::query_as(
            "select room_id, seq from messages
                 where sender_id = $1 and deleted_at is null and (room_id, seq) > ($2, $3)
                 order by room_id, seq limit $4",
        )
        .bind(sender.as_uuid())
        .bind(after.room.as_uuid())
        .bind(seq_to_db(after.seq))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|(room, seq)| SentCursor { room: RoomId::from_uuid(room), seq: seq_from_db(seq) })
            .collect())
    }

    async fn find_seqs(&self, room: RoomId, seqs: &[Seq]) -> Result<Vec<Message>, StoreError> {
        replies::find_seqs(&self.pool, room, seqs).await
    }

    async fn replies(
        &self,
        room: RoomId,
        parent: Seq,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        replies::replies(&self.pool, room, parent, after, limit).await
    }

    async fn reply_counts(
        &self,
        room: RoomId,
        parents: &[Seq],
        through: Seq,
    ) -> Result<Vec<(Seq, u64)>, StoreError> {
        replies::reply_counts(&self.pool, room, parents, through).await
    }
}

/// Writes each message's state as a batch of changes leaves it (`$1`..`$13`, one row per
/// message), inserting the row when the message is not stored yet. On the row stored, the
/// state wins as [`apply_change`] says: over a live row when it is a deletion or newer; over
/// a tombstone only when it is an older deletion, so that the first deletion in the stream
/// stands whichever is applied first. A tombstone's text is blanked here too, whatever the
/// change carried.
///
/// Races with other transactions (other persister writers and processes, in READ COMMITTED)
/// meet at the row's unique key (room_id, seq): inserting it, or taking the `do update` path
/// (which locks the row even when its condition fails), holds the row until commit, and a
/// second writer waits there and then re-reads the committed row. So:
/// - the message's own insert skips a row a change made (`on conflict do nothing`, or the
///   `COPY` failing and falling back to it), and a change made after the insert updates it;
/// - edits and deletions of one message are applied one after another, each to the row as the
///   one before left it, and the rule above gives the same row in any order;
/// - an edit records its seq in `message_edits` after this statement, with the row locked,
///   and a deletion reads the recorded edits after this statement: whichever commits second
///   sees the other, so either the deletion redacts the edit or the edit, seeing the
///   tombstone, redacts itself.
///
/// Rows are written in ascending seq, the order in which the stream delivers, and so
/// `insert_batch` writes, messages: transactions that lock rows in one order never deadlock.
static UPSERT_STATES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "insert into messages as held ({COLUMNS})
         select id, room_id, seq, sender_id,
                case when deleted_at is null then content else '' end,
                kind,
                case when deleted_at is null then metadata end,
                client_msg_id, created_at,
                case when deleted_at is null then edited_at end,
                deleted_by, deleted_at, changed_seq, reply_to_id, reply_to_seq, reply_to_sender_id
         from ({MESSAGE_ROWS}) as state ({COLUMNS})
         order by seq, room_id
         on conflict (room_id, seq) do update
         set content = excluded.content, metadata = excluded.metadata, edited_at = excluded.edited_at,
             deleted_by = excluded.deleted_by, deleted_at = excluded.deleted_at,
             changed_seq = excluded.changed_seq
         where (held.deleted_at is null
                and (excluded.deleted_at is not null or held.changed_seq < excluded.changed_seq))
            or (held.deleted_at is not null and excluded.deleted_at is not null
                and excluded.changed_seq < held.changed_seq)"
    )
});

/// The stream entries that hold text of the given messages (`$1` rooms, `$2` seqs) that are
/// deleted: each one's own and its edits', ascending. Run after [`UPSERT_STATES`], it sees
/// every edit committed before the row was locked, and those of its own transaction.
const REDACTED_SEQS: &str = "with deleted as (
         select held.room_id, held.seq
         from messages held
         join unnest($1::uuid[], $2::int8[]) as touched (room_id, seq) using (room_id, seq)
         where held.deleted_at is not null
     )
     select seq from deleted
     union
     select edit.seq
     from message_edits edit
     join deleted on edit.room_id = deleted.room_id and edit.message_seq = deleted.seq
     order by seq";

/// Each message's state after `changes`, in the order [`UPSERT_STATES`] writes rows: folded in
/// the changes' own order, so the newest edit wins and the first deletion is final. One
/// statement cannot update a row twice, so each message comes once.
fn newest_states(changes: &[Change]) -> BTreeMap<(Seq, RoomId), Message> {
    let mut in_order: Vec<&Change> = changes.iter().collect();
    in_order.sort_by_key(|change| change.seq);
    let mut states = BTreeMap::new();
    for change in in_order {
        match states.entry((change.message.seq, change.message.room_id)) {
            btree_map::Entry::Vacant(state) => {
                state.insert(change.message.clone());
            }
            btree_map::Entry::Occupied(mut state) => {
                apply_change(state.get_mut(), change);
            }
        }
    }
    states
}

/// Records the seq of each edit under its message, for the message's deletion to redact. To be
/// run after [`UPSERT_STATES`] has locked the edited rows.
async fn record_edits(conn: &mut PgConnection, changes: &[Change]) -> Result<(), StoreError> {
    let edits = changes.iter().filter(|change| change.kind == ChangeKind::Edited);
    let (mut rooms, mut message_seqs, mut seqs) = (Vec::new(), Vec::new(), Vec::new());
    for edit in edits {
        rooms.push(edit.message.room_id.as_uuid());
        message_seqs.push(seq_to_db(edit.message.seq));
        seqs.push(seq_to_db(edit.seq));
    }
    if seqs.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "insert into message_edits (room_id, message_seq, seq)
         select * from unnest($1::uuid[], $2::int8[], $3::int8[]) order by 3
         on conflict do nothing",
    )
    .bind(rooms)
    .bind(message_seqs)
    .bind(seqs)
    .execute(conn)
    .await
    .map_err(store_error)?;
    Ok(())
}

/// The stream seqs to erase now that `changes` are applied to these messages: see
/// [`REDACTED_SEQS`].
async fn redacted_seqs(
    conn: &mut PgConnection,
    messages: impl Iterator<Item = &(Seq, RoomId)>,
) -> Result<Vec<Seq>, StoreError> {
    let (seqs, rooms): (Vec<i64>, Vec<Uuid>) =
        messages.map(|(seq, room)| (seq_to_db(*seq), room.as_uuid())).unzip();
    let redacted: Vec<i64> = sqlx::query_scalar(REDACTED_SEQS)
        .bind(rooms)
        .bind(seqs)
        .fetch_all(conn)
        .await
        .map_err(store_error)?;
    Ok(redacted.into_iter().map(seq_from_db).collect())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use chat_shared::domain::{Content, MessageId, MessageKind, Metadata, UserId};
    use chrono::SubsecRound;
    use rand::Rng;
    use rand::seq::SliceRandom;

    use super::super::test_db::TestDb;
    use super::*;

    /// Rounds of each race: each one a few milliseconds.
    const ROUNDS: usize = 40;

    /// Now, in whole microseconds as PostgreSQL keeps it, so that what reads back compares equal.
    fn now() -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }

    fn message(room: RoomId, seq: Seq) -> Message {
        Message {
            id: MessageId::generate(),
            room_id: room,
            seq,
            sender_id: UserId::generate(),
            content: Content::parse(&format!("secret {seq}")).unwrap(),
            kind: MessageKind::text(),
            metadata: Metadata::parse(Some(serde_json::json!({ "secret": seq }))).unwrap(),
            client_msg_id: Some(ClientMsgId::parse(&format!("c-{seq}")).unwrap()),
            created_at: now(),
            edited_at: None,
            deleted: false,
            deleted_by: None,
            deleted_at: None,
            changed_seq: 0,
            reactions: Vec::new(),
            reactions_seq: 0,
            reply_to: None,
            reply_count: 0,
        }
    }

    fn edit(of: &Message, seq: Seq) -> Change {
        let edited = of.edited(Content::parse(&format!("secret edit {seq}")).unwrap(), None, now());
        Change {
            kind: ChangeKind::Edited,
            seq: 0,
            actor: of.sender_id,
            client_change_id: None,
            message: edited,
        }
        .at_seq(seq)
    }

    fn deletion(of: &Message, seq: Seq) -> Change {
        let tombstone = of.tombstone(of.sender_id, now());
        Change {
            kind: ChangeKind::Deleted,
            seq: 0,
            actor: of.sender_id,
            client_change_id: None,
            message: tombstone,
        }
        .at_seq(seq)
    }

    /// What one writer does: insert the messages, or apply some changes in one call.
    enum Write {
        Insert(Vec<Message>),
        Apply(Vec<Change>),
    }

    /// The messages' insert and the changes, some of them twice (a redelivery), in calls of
    /// random sizes, in random order.
    fn random_writes(messages: &[Message], changes: &[Change]) -> Vec<Write> {
        let mut rng = rand::thread_rng();
        let mut delivered: Vec<Change> =
            changes.iter().flat_map(|c| vec![c.clone(); rng.gen_range(1..=2)]).collect();
        delivered.shuffle(&mut rng);
        let mut writes = vec![Write::Insert(messages.to_vec())];
        while !delivered.is_empty() {
            let size = rng.gen_range(1..=delivered.len().min(3));
            writes.push(Write::Apply(delivered.drain(..size).collect()));
        }
        writes.shuffle(&mut rng);
        writes
    }

    /// Runs the writes at once, each on its own connection after a random pause of up to 2 ms,
    /// and returns every seq they said to redact.
    async fn race(store: &PgMessageStore, writes: Vec<Write>) -> BTreeSet<Seq> {
        let tasks: Vec<_> = writes
            .into_iter()
            .map(|write| {
                let store = store.clone();
                let pause = Duration::from_micros(rand::thread_rng().gen_range(0..2000));
                tokio::spawn(async move {
                    tokio::time::sleep(pause).await;
                    match write {
                        Write::Insert(messages) => store.insert_batch(&messages).await.map(|_| Vec::new()),
                        Write::Apply(changes) => store.apply_changes(&changes).await.map(|r| r.log_seqs),
                    }
                })
            })
            .collect();
        let mut redacted = BTreeSet::new();
        for task in tasks {
            redacted.extend(task.await.unwrap().unwrap());
        }
        redacted
    }

    async fn stored(store: &PgMessageStore, of: &Message) -> Option<Message> {
        store.find(of.room_id, MessageRef::Seq(of.seq)).await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_edits_deletion_and_insert_leave_the_tombstone_and_redact_every_entry_of_it() {
        let db = TestDb::create().await;
        let store = PgMessageStore::new(db.pool.clone());

        let mut outcomes = Vec::new();
        for _ in 0..ROUNDS {
            let room = RoomId::generate();
            let (deleted, kept) = (message(room, 100), message(room, 102));
            let changes = [
                edit(&deleted, 101),
                edit(&kept, 103),
                edit(&deleted, 104),
                deletion(&deleted, 105),
                edit(&deleted, 106),
                edit(&kept, 107),
            ];
            let redacted = race(&store, random_writes(&[deleted.clone(), kept.clone()], &changes)).await;
            outcomes.push((
                redacted,
                stored(&store, &deleted).await == Some(changes[3].message.clone()),
                stored(&store, &kept).await == Some(changes[5].message.clone()),
            ));
        }
        let leftover: i64 = sqlx::query_scalar(
            "select count(*) from messages where content like '%secret%' and deleted_at is not null",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();

        db.drop().await;
        for (redacted, tombstone, newest_edit) in outcomes {
            assert_eq!(redacted, BTreeSet::from([100, 101, 104, 106]));
            assert!(tombstone, "the deleted message is its tombstone");
            assert!(newest_edit, "the other message is as its newest edit left it");
        }
        assert_eq!(leftover, 0, "no tombstone keeps text");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_edits_leave_the_newest_and_redact_nothing() {
        let db = TestDb::create().await;
        let store = PgMessageStore::new(db.pool.clone());

        let mut outcomes = Vec::new();
        for _ in 0..ROUNDS {
            let original = message(RoomId::generate(), 100);
            let edits: Vec<Change> = (101..=108).map(|seq| edit(&original, seq)).collect();
            let redacted = race(&store, random_writes(std::slice::from_ref(&original), &edits)).await;
            outcomes.push((redacted, stored(&store, &original).await == Some(edits[7].message.clone())));
        }

        db.drop().await;
        for (redacted, newest) in outcomes {
            assert_eq!(redacted, BTreeSet::new());
            assert!(newest, "the message is as its newest edit left it");
        }
    }

    #[tokio::test]
    async fn a_tombstone_row_holds_no_text_even_from_a_deletion_that_carried_some() {
        let db = TestDb::create().await;
        let store = PgMessageStore::new(db.pool.clone());
        let original = message(RoomId::generate(), 100);
        let mut careless = deletion(&original, 101);
        careless.message.content = original.content.clone();
        careless.message.metadata = original.metadata.clone();

        let redacted = store.apply_changes(&[careless]).await.unwrap();
        let inserted = store.insert_batch(std::slice::from_ref(&original)).await.unwrap();
        let row: (String, Option<serde_json::Value>) =
            sqlx::query_as("select content, metadata from messages").fetch_one(&db.pool).await.unwrap();

        db.drop().await;
        assert_eq!(redacted.log_seqs, [100]);
        assert_eq!(inserted, 0);
        assert_eq!(row, (String::new(), None));
    }
}
