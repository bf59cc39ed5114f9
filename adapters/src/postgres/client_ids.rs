//! Looks up sends' client ids in batches. Every send that carries a `client_msg_id` asks whether
//! the room already holds it. One query runs at a time, and the lookups that arrive while it
//! runs go together in the next: a query costs PostgreSQL about as much for one id as for
//! several, so batches grow with the load instead of the queries. (With four queries in flight,
//! paced sends mostly got one each: at 5,000 sends/s PostgreSQL used 0.41 of two cores, and
//! 0.29 with one query at a time.)
//!
//! The lookups run on a connection of their own that never plans a sequential scan and
//! always uses the prepared statement's one generic plan. Left to itself PostgreSQL planned the
//! query anew on every run (the generic plan's estimate for `unnest` looked dearer than the
//! custom plans), which cost several times what running it did; and a plan made while
//! `messages` was nearly empty would scan the whole table on every send once it grew.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use chat_shared::domain::{ClientMsgId, Message, RoomId};
use chat_shared::ports::StoreError;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::errors::is_unavailable;
use crate::rows::{MESSAGE_COLUMNS as COLUMNS, MessageRow};

/// Lookups gathered into one query at most.
const MAX_BATCH: usize = 256;
/// Lookups waiting for a query at most; a send beyond that waits for room in the queue.
const QUEUE: usize = 16 * 1024;

type Reply = oneshot::Sender<Result<Option<Message>, StoreError>>;

struct Lookup {
    room: RoomId,
    client_id: ClientMsgId,
    reply: Reply,
}

/// A handle on the batching task; clones share it. The task ends when the last handle drops.
#[derive(Clone)]
pub(super) struct ClientIdLookup {
    queue: mpsc::Sender<Lookup>,
}

impl ClientIdLookup {
    /// Starts the batching task on the current runtime, with connections to `pool`'s database.
    pub(super) fn start(pool: &PgPool) -> Self {
        let (queue, lookups) = mpsc::channel(QUEUE);
        tokio::spawn(run(lookup_pool(pool), lookups));
        Self { queue }
    }

    /// The message stored in `room` under `client_id`, if any.
    pub(super) async fn find(
        &self,
        room: RoomId,
        client_id: &ClientMsgId,
    ) -> Result<Option<Message>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let lookup = Lookup { room, client_id: client_id.clone(), reply };
        let gone = || StoreError::other("the client id lookup stopped");
        self.queue.send(lookup).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// One connection, to the same database as `pool`, with sequential scans disabled (the planner
/// then reaches `messages` through its client-id index whatever it believes the table's size
/// to be) and the query planned once.
fn lookup_pool(pool: &PgPool) -> PgPool {
    let settings = [("enable_seqscan", "off"), ("plan_cache_mode", "force_generic_plan")];
    let options = (*pool.connect_options()).clone().options(settings);
    PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(pool.options().get_acquire_timeout())
        .connect_lazy_with(options)
}

/// Takes whatever lookups are waiting, up to a batch, and answers them with one query.
async fn run(pool: PgPool, mut lookups: mpsc::Receiver<Lookup>) {
    while let Some(first) = lookups.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH
            && let Ok(next) = lookups.try_recv()
        {
            batch.push(next);
        }
        metrics::histogram!("chat_client_id_lookup_batch_size").record(batch.len() as f64);
        answer(&pool, batch).await;
    }
}

/// The key is written as the hash index of migration 0004 has it, so that the index is used.
fn lookup_sql() -> String {
    format!(
        "select {COLUMNS} from messages
         where room_id::text || client_msg_id in
             (select r::text || c from unnest($1::uuid[], $2::text[]) as u (r, c))"
    )
}

async fn answer(pool: &PgPool, batch: Vec<Lookup>) {
    let rooms: Vec<Uuid> = batch.iter().map(|l| l.room.as_uuid()).collect();
    let client_ids: Vec<&str> = batch.iter().map(|l| l.client_id.as_str()).collect();
    let rows = sqlx::query_as::<_, MessageRow<serde_json::Value>>(&lookup_sql())
        .bind(&rooms)
        .bind(&client_ids)
        .fetch_all(pool)
        .await;
    match rows {
        Ok(rows) => {
            // A client id can be stored twice (see migration 0003); the first one is the original.
            let mut found: HashMap<(Uuid, String), MessageRow<serde_json::Value>> =
                HashMap::with_capacity(rows.len());
            for row in rows {
                let Some(client_id) = row.client_msg_id.clone() else { continue };
                match found.entry((row.room_id, client_id)) {
                    Entry::Occupied(mut first) if row.seq < first.get().seq => {
                        first.insert(row);
                    }
                    Entry::Occupied(_) => {}
                    Entry::Vacant(slot) => {
                        slot.insert(row);
                    }
                }
            }
            for lookup in batch {
                let key = (lookup.room.as_uuid(), lookup.client_id.as_str().to_owned());
                // The same id may be asked twice at once (a quick retry): each gets the row.
                let message = found.get(&key).cloned().map(Message::try_from).transpose();
                let _ = lookup.reply.send(message);
            }
        }
        Err(err) => {
            // Every waiter gets the failure, classified like a failure of its own query.
            let unavailable = is_unavailable(&err);
            let reason = format!("looking up client ids: {err}");
            for lookup in batch {
                let err = if unavailable {
                    StoreError::unavailable(reason.clone())
                } else {
                    StoreError::other(reason.clone())
                };
                let _ = lookup.reply.send(Err(err));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlx::migrate::Migrator;

    use super::super::MIGRATOR;
    use super::super::test_db::TestDb;
    use super::*;

    #[tokio::test]
    async fn a_lookup_connection_plans_its_query_once() {
        let db = TestDb::create().await;

        let lookups = lookup_pool(&db.pool);
        let mut lookup = lookups.acquire().await.unwrap();
        for i in 0..10 {
            let rooms = vec![Uuid::new_v4(); i % 3 + 1];
            let client_ids = vec![format!("c-{i}"); i % 3 + 1];
            let rows = sqlx::query_as::<_, MessageRow<serde_json::Value>>(&lookup_sql())
                .bind(&rooms)
                .bind(&client_ids)
                .fetch_all(&mut *lookup)
                .await
                .unwrap();
            assert!(rows.is_empty());
        }
        let (generic, custom): (i64, i64) = sqlx::query_as(
            "select generic_plans, custom_plans from pg_prepared_statements where statement = $1",
        )
        .bind(lookup_sql())
        .fetch_one(&mut *lookup)
        .await
        .unwrap();

        drop(lookup);
        lookups.close().await;
        db.drop().await;
        assert_eq!((generic, custom), (10, 0), "(generic plans, custom plans) of the lookup");
    }

    #[tokio::test]
    async fn a_lookup_reads_the_client_id_index() {
        let db = TestDb::create().await;
        // The lookups' own connection prices sequential scans out, so its plan names the index
        // if and only if the query spells the key as the index does.
        let lookups = lookup_pool(&db.pool);
        let mut conn = lookups.acquire().await.unwrap();

        let plan: Vec<String> = sqlx::query_scalar(&format!("explain {}", lookup_sql()))
            .bind(vec![Uuid::new_v4()])
            .bind(vec!["c-1"])
            .fetch_all(&mut *conn)
            .await
            .unwrap();

        drop(conn);
        lookups.close().await;
        db.drop().await;
        let plan = plan.join("\n");
        assert!(plan.contains("messages_room_client_id_hash_idx"), "{plan}");
    }

    #[tokio::test]
    async fn messages_stored_under_the_b_tree_are_found_by_room_after_migration_0004() {
        let db = TestDb::unmigrated().await;
        let through_0003 = Migrator {
            migrations: MIGRATOR.migrations.iter().filter(|m| m.version <= 3).cloned().collect(),
            ..Migrator::DEFAULT
        };
        through_0003.run(&db.pool).await.unwrap();
        // The same client id in two rooms, as clients that count their ids per room send it.
        let (first_room, second_room) = (Uuid::new_v4(), Uuid::new_v4());
        for (room, seq) in [(first_room, 7i64), (second_room, 8)] {
            sqlx::query(
                "insert into messages (id, room_id, seq, sender_id, content, kind, client_msg_id, created_at)
                 values ($1, $2, $3, $4, 'hi', 'text', 'c-1', now())",
            )
            .bind(Uuid::new_v4())
            .bind(room)
            .bind(seq)
            .bind(Uuid::new_v4())
            .execute(&db.pool)
            .await
            .unwrap();
        }

        super::super::migrate(&db.pool).await.unwrap();
        let lookups = ClientIdLookup::start(&db.pool);
        let client_id = ClientMsgId::parse("c-1").unwrap();
        let find = |room| lookups.find(RoomId::from_uuid(room), &client_id);
        let (first, second, elsewhere) =
            (find(first_room).await, find(second_room).await, find(Uuid::new_v4()).await);

        db.drop().await;
        assert_eq!(first.unwrap().map(|m| m.seq), Some(crate::rows::seq_from_db(7)));
        assert_eq!(second.unwrap().map(|m| m.seq), Some(crate::rows::seq_from_db(8)));
        assert!(elsewhere.unwrap().is_none());
    }
}
