//! The embedded mode's SQLite database when something is wrong with it: at start-up a data
//! folder that cannot be made, a file that is not a database, migrations of another version; at
//! run time a database that is closed, locked or damaged. What is out of reach is `Unavailable`
//! (the client may retry), what is broken is `Other`.

use std::path::Path;
use std::time::Duration;

use chat_adapters::sqlite::{SqliteMessageLog, SqliteMessageStore, SqliteUserStore};
use chat_shared::domain::{RoomId, UserId};
use chat_shared::ports::{
    Appended, LogError, MessageLog, MessageStore, PageQuery, Probe, StoreError, UserStore,
};
use chat_tests::embedded::{DataDir, embedded_args};
use chat_tests::start_node;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, SqliteConnection};

use crate::contract::{new_message, open_sqlite};

/// Why an embedded node on `data_dir` refused to start, with every cause.
async fn refusal(data_dir: &Path, extra: &[(&str, &str)]) -> String {
    let mut args = embedded_args(data_dir, &[]);
    for (flag, value) in extra {
        let at = args.iter().position(|a| a == flag).expect("a flag of embedded_args");
        args[at + 1] = value.to_string();
    }
    match start_node(args).await {
        Ok(_) => panic!("the node started"),
        Err(err) => format!("{err:#}"),
    }
}

/// A connection of its own to the database of `dir`, as another process would have.
async fn other_connection(dir: &DataDir) -> SqliteConnection {
    SqliteConnectOptions::new().filename(dir.path.join("chat.db")).connect().await.expect("a connection")
}

async fn execute(conn: &mut SqliteConnection, sql: &str) {
    sqlx::query(sql).execute(conn).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
}

#[tokio::test]
async fn an_embedded_node_refuses_to_start_where_its_data_folder_cannot_be_made() {
    let dir = DataDir::new();
    std::fs::create_dir_all(&dir.path).unwrap();
    let in_the_way = dir.path.join("a-file");
    std::fs::write(&in_the_way, "not a folder").unwrap();
    // /proc takes no new folders, not even from root.
    let read_only = Path::new("/proc/chat-data");

    for data_dir in [in_the_way.join("data"), read_only.to_path_buf()] {
        let why = refusal(&data_dir, &[]).await;

        assert!(why.contains("creating the data folder"), "{why}");
        assert!(why.contains(&data_dir.display().to_string()), "{why}");
    }
}

#[tokio::test]
async fn an_embedded_node_refuses_a_database_file_that_is_not_a_database_and_leaves_it_alone() {
    let dir = DataDir::new();
    std::fs::create_dir_all(&dir.path).unwrap();
    let garbage = vec![b'x'; 8192];
    std::fs::write(dir.path.join("chat.db"), &garbage).unwrap();

    let why = refusal(&dir.path, &[]).await;

    assert!(why.contains("opening the database"), "{why}");
    assert!(why.contains("not a database"), "{why}");
    assert_eq!(std::fs::read(dir.path.join("chat.db")).unwrap(), garbage);
}

#[tokio::test]
async fn an_embedded_node_refuses_a_database_migrated_by_a_newer_version() {
    let dir = DataDir::new();
    open_sqlite(&dir).await.close().await;
    let mut other = other_connection(&dir).await;
    execute(
        &mut other,
        "insert into _sqlx_migrations (version, description, success, checksum, execution_time)
         values (99990101000000, 'from the future', true, x'00', 0)",
    )
    .await;

    let why = refusal(&dir.path, &[]).await;

    assert!(why.contains("applying database migrations"), "{why}");
    assert!(why.contains("99990101000000") && why.contains("missing"), "{why}");
}

#[tokio::test]
async fn an_embedded_node_refuses_a_database_whose_applied_migration_was_changed() {
    let dir = DataDir::new();
    open_sqlite(&dir).await.close().await;
    let mut other = other_connection(&dir).await;
    execute(&mut other, "update _sqlx_migrations set checksum = x'00'").await;

    let why = refusal(&dir.path, &[]).await;

    assert!(why.contains("applying database migrations"), "{why}");
    assert!(why.contains("modified"), "{why}");
}

#[tokio::test]
async fn a_jwt_secret_shorter_than_32_bytes_is_refused_and_a_long_one_replaces_the_key_file() {
    let dir = DataDir::new();

    let why = refusal(&dir.path, &[("--jwt-secret", "too short")]).await;
    assert!(why.contains("at least 32 bytes"), "{why}");

    let mut args = embedded_args(&dir.path, &[]);
    let at = args.iter().position(|a| a == "--jwt-secret").unwrap();
    args[at + 1] = "a-secret-that-is-long-enough-for-hs256".into();
    let node = start_node(args).await.unwrap();
    assert!(!dir.path.join("jwt.key").exists(), "no key is generated beside a configured secret");
    node.stop().await.unwrap();
}

#[tokio::test]
async fn calls_on_a_closed_database_fail_as_unavailable() {
    let dir = DataDir::new();
    let db = open_sqlite(&dir).await;
    let (users, log, probe) =
        (SqliteUserStore::new(db.clone()), SqliteMessageLog::new(db.clone()), db.probe());
    assert_eq!((probe.name(), probe.check().await), ("sqlite", Ok(())));

    db.close().await;

    assert!(matches!(users.by_id(UserId::generate()).await, Err(StoreError::Unavailable(_))));
    let message = new_message(RoomId::generate(), 0, "hello", None);
    assert!(matches!(log.append(&message, "key").await, Err(LogError::Unavailable(_))));
    assert!(matches!(log.get(1).await, Err(LogError::Unavailable(_))));
    assert!(matches!(log.read_after(message.room_id, 0, 10).await, Err(LogError::Unavailable(_))));
    assert!(probe.check().await.is_err());
}

#[tokio::test]
async fn an_append_waits_for_another_process_that_locks_the_database_briefly() {
    let dir = DataDir::new();
    let log = SqliteMessageLog::new(open_sqlite(&dir).await);
    let mut other = other_connection(&dir).await;
    execute(&mut other, "begin exclusive").await;
    let message = new_message(RoomId::generate(), 0, "hello", None);

    let append = tokio::spawn(async move { log.append(&message, "key").await });
    // The other process keeps its lock a while; the append waits for it instead of failing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    execute(&mut other, "rollback").await;
    let appended = append.await.unwrap();
    assert!(matches!(appended, Ok(Appended::New(_))), "{appended:?}");
}

#[tokio::test]
async fn an_append_while_another_process_holds_the_lock_past_the_busy_timeout_is_unavailable() {
    let dir = DataDir::new();
    let log = SqliteMessageLog::new(open_sqlite(&dir).await);
    let mut other = other_connection(&dir).await;
    execute(&mut other, "begin exclusive").await;
    let message = new_message(RoomId::generate(), 0, "hello", None);

    let locked = log.append(&message, "key").await;

    assert!(matches!(locked, Err(LogError::Unavailable(_))), "{locked:?}");
    execute(&mut other, "rollback").await;
    assert!(matches!(log.append(&message, "key").await, Ok(Appended::New(_))));
}

#[tokio::test]
async fn a_missing_table_is_a_failure_not_an_outage() {
    let dir = DataDir::new();
    let db = open_sqlite(&dir).await;
    let (log, store) = (SqliteMessageLog::new(db.clone()), SqliteMessageStore::new(db));
    let room = RoomId::generate();
    let mut other = other_connection(&dir).await;
    execute(&mut other, "alter table messages rename to messages_gone").await;

    let appended = log.append(&new_message(room, 0, "hello", None), "key").await;
    assert!(matches!(appended, Err(LogError::Other(_))), "{appended:?}");
    assert!(matches!(log.read_after(room, 0, 10).await, Err(LogError::Other(_))));
    assert!(matches!(
        store.page(room, PageQuery { before: None, after: None, limit: 10 }).await,
        Err(StoreError::Other(_))
    ));
}

#[tokio::test]
async fn a_stored_message_that_no_longer_reads_as_one_is_reported_not_returned() {
    let dir = DataDir::new();
    let db = open_sqlite(&dir).await;
    let (log, store) = (SqliteMessageLog::new(db.clone()), SqliteMessageStore::new(db));
    let message = new_message(RoomId::generate(), 0, "hello", None);
    let Ok(Appended::New(seq)) = log.append(&message, "key").await else { panic!("appended") };
    let mut other = other_connection(&dir).await;
    execute(&mut other, "update messages set content = ''").await;

    let invalid = |why: &dyn std::fmt::Debug| format!("{why:?}").contains("content is invalid");
    let got = log.get(seq).await;
    assert!(matches!(&got, Err(LogError::Other(why)) if invalid(why)), "{got:?}");
    let read = log.read_after(message.room_id, 0, 10).await;
    assert!(matches!(&read, Err(LogError::Other(why)) if invalid(why)), "{read:?}");
    let page = store.page(message.room_id, PageQuery { before: None, after: None, limit: 10 }).await;
    assert!(matches!(&page, Err(StoreError::Other(why)) if invalid(why)), "{page:?}");
}

#[tokio::test]
async fn a_message_already_stored_under_another_dedup_key_is_refused() {
    let dir = DataDir::new();
    let log = SqliteMessageLog::new(open_sqlite(&dir).await);
    let message = new_message(RoomId::generate(), 0, "hello", Some("c1"));
    let Ok(Appended::New(seq)) = log.append(&message, "first").await else { panic!("appended") };

    let again = log.append(&message, "second").await;

    assert!(matches!(again, Err(LogError::Other(_))), "{again:?}");
    assert!(matches!(log.append(&message, "first").await, Ok(Appended::Duplicate(s)) if s == seq));
    assert_eq!(log.read_after(message.room_id, 0, 10).await.unwrap().len(), 1);
}
