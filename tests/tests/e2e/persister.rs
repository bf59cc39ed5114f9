//! The persister's start, readiness and shutdown, and what it does when PostgreSQL or NATS
//! goes away: a start that cannot reach a service says which, `/readyz` names what is down, and
//! no message the stream acknowledged is lost across an outage or a shutdown during one.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use chat_tests::outage::{PrivateNats, PrivatePostgres};
use chat_tests::process::run_to_exit;
use chat_tests::{Account, TestApp, TestDatabase, TestPersister, TestStream};
use serde_json::{Value, json};
use sqlx::PgPool;

const PERSISTER: &str = env!("CARGO_BIN_EXE_chat-persister-under-test");

/// Why a persister with these settings did not start, with every cause.
async fn start_failure(database_url: &str, extra: &[&str]) -> String {
    let stream = TestStream::new();
    match TestPersister::start_with(database_url, &stream, extra).await {
        Ok(_) => panic!("the persister started"),
        Err(err) => format!("{err:#}"),
    }
}

async fn get(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.expect("the persister answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `chat_persister_insert_errors_total` in a persister's `/metrics`.
fn insert_errors(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("chat_persister_insert_errors_total "))
        .map_or(0, |value| value.trim().parse().unwrap_or(0))
}

async fn eventually(what: &str, wait: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + wait;
    while !done().await {
        assert!(Instant::now() < deadline, "{what} did not happen within {wait:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends `content` through the REST API until the node accepts it; a retry keeps the client id,
/// so a send that was stored although its answer was lost is stored once.
async fn send(app: &TestApp, sender: &Account, room: &str, content: &str) {
    let body = json!({ "content": content, "client_msg_id": content });
    let path = format!("/rooms/{room}/messages");
    eventually(&format!("sending {content}"), Duration::from_secs(30), async || {
        app.call("POST", &path, Some(&sender.access), Some(body.clone())).await.status == 201
    })
    .await;
}

async fn stored(pool: &PgPool, room: &str) -> i64 {
    sqlx::query_scalar("select count(*) from messages where room_id = $1::uuid")
        .bind(room)
        .fetch_one(pool)
        .await
        .expect("counting messages")
}

#[tokio::test]
async fn a_persister_whose_database_is_down_refuses_to_start_and_says_so() {
    let why = start_failure("postgres://postgres@127.0.0.1:1/chat", &[]).await;

    assert!(why.contains("applying database migrations"), "{why}");
}

#[tokio::test]
async fn a_persister_with_a_malformed_database_url_refuses_to_start_and_says_so() {
    let why = start_failure("mysql://127.0.0.1/chat", &[]).await;

    assert!(why.contains("DATABASE_URL (--database-url) is not a valid PostgreSQL URL"), "{why}");
}

#[tokio::test]
async fn a_persister_whose_nats_is_down_refuses_to_start_and_says_so() {
    let db = TestDatabase::create().await.unwrap();

    let why = start_failure(&db.url, &["--nats-url", "nats://127.0.0.1:1"]).await;

    assert!(why.contains("connecting to NATS (NATS_URL, --nats-url)"), "{why}");
}

#[tokio::test]
async fn a_persister_whose_listen_address_is_taken_refuses_to_start_and_says_so() {
    let db = TestDatabase::create().await.unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();

    let why = start_failure(&db.url, &["--listen", &addr]).await;

    assert!(why.contains(&format!("binding {addr} (--listen)")), "{why}");
}

#[tokio::test]
async fn the_persister_process_exits_1_and_says_why_it_could_not_start() {
    let db = TestDatabase::create().await.unwrap();
    let stream = TestStream::new();
    let args = ["--listen", "127.0.0.1:0", "--database-url", &db.url, "--stream-prefix", &stream.prefix];

    let (code, stderr) =
        run_to_exit(PERSISTER, &[&args[..], &["--nats-url", "nats://127.0.0.1:1"]].concat()).await.unwrap();

    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("chat-persister: connecting to NATS"), "{stderr}");
}

#[tokio::test]
async fn readyz_names_each_service_that_is_down_until_it_is_back_and_healthz_stays_ok() {
    let postgres = PrivatePostgres::start().await.unwrap();
    let database_url = postgres.create_database("chat").await.unwrap();
    let mut nats = PrivateNats::start().await.unwrap();
    let stream = TestStream::new();
    let persister =
        TestPersister::start_with(&database_url, &stream, &["--nats-url", &nats.url()]).await.unwrap();
    let (readyz, healthz) = (persister.url("/readyz"), persister.url("/healthz"));
    assert_eq!(get(&readyz).await, (200, json!({ "status": "ready" })));

    postgres.stop().unwrap();
    let (status, body) = get(&readyz).await;
    assert_eq!((status, &body["error"]["code"]), (503, &json!("unavailable")), "{body}");
    // Refused at once ("unreachable") or, while the pool waits for a connection, not answered
    // within the probe's 2 s: either way postgres alone is named.
    let why = body["error"]["message"].as_str().unwrap_or_default();
    assert!(["postgres: unreachable", "postgres: no answer within 2s"].contains(&why), "{body}");
    assert_eq!(get(&healthz).await.0, 200, "alive, only not ready");
    postgres.resume().await.unwrap();
    eventually("ready again", Duration::from_secs(20), async || get(&readyz).await.0 == 200).await;

    nats.stop().await.unwrap();
    eventually("NATS named as down", Duration::from_secs(20), async || {
        get(&readyz).await.1["error"]["message"].as_str().is_some_and(|why| why.starts_with("nats: "))
    })
    .await;
    nats.resume().await.unwrap();
    eventually("ready again", Duration::from_secs(20), async || get(&readyz).await.0 == 200).await;
    let metrics = reqwest::get(persister.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("chat_nats_events_total"), "{metrics}");
    persister.stop().await.unwrap();
}

#[tokio::test]
async fn a_persister_outlives_a_nats_restart_and_writes_what_was_sent_before_and_after() {
    let mut nats = PrivateNats::start().await.unwrap();
    let app = TestApp::spawn_with(&["--nats-url", &nats.url(), "--send-rate", "0"]).await.unwrap();
    let persister =
        TestPersister::start_with(&app.db.url, &app.stream, &["--nats-url", &nats.url()]).await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "group", &[]).await;
    for n in 0..10 {
        send(&app, &ann, &room, &format!("before-{n}")).await;
    }
    assert_eq!(app.persisted(&room, 10, Duration::from_secs(10)).await, 10);

    nats.stop().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    nats.resume().await.unwrap();
    for n in 0..10 {
        send(&app, &ann, &room, &format!("after-{n}")).await;
    }

    assert_eq!(app.persisted(&room, 20, Duration::from_secs(30)).await, 20);
    persister.stop().await.unwrap();
}

#[tokio::test]
async fn a_persister_stopped_while_postgres_is_down_stops_at_once_and_the_next_one_writes_its_batch() {
    let postgres = PrivatePostgres::start().await.unwrap();
    let database_url = postgres.create_database("chat").await.unwrap();
    let app = TestApp::spawn_with(&["--send-rate", "0"]).await.unwrap();
    let persister = TestPersister::start_with(&database_url, &app.stream, &[]).await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "group", &[]).await;
    send(&app, &ann, &room, "before").await;
    let pool = PgPool::connect(&database_url).await.unwrap();
    eventually("the first message written", Duration::from_secs(10), async || {
        stored(&pool, &room).await == 1
    })
    .await;
    pool.close().await;

    postgres.stop().unwrap();
    for n in 0..3 {
        send(&app, &ann, &room, &format!("during-{n}")).await;
    }
    // The batch is fetched and its write fails (and is retried) before the stop.
    let metrics = persister.url("/metrics");
    eventually("a failed batch insert", Duration::from_secs(20), async || {
        insert_errors(&reqwest::get(&metrics).await.unwrap().text().await.unwrap()) > 0
    })
    .await;
    let started = Instant::now();
    persister.stop().await.unwrap();
    // A write under way ends when PostgreSQL's connection attempt gives up; none starts after.
    assert!(started.elapsed() < Duration::from_secs(10), "stopping took {:?}", started.elapsed());

    postgres.resume().await.unwrap();
    let next = TestPersister::start_with(&database_url, &app.stream, &[]).await.unwrap();
    let pool = PgPool::connect(&database_url).await.unwrap();
    eventually("the batch written by the next persister", Duration::from_secs(20), async || {
        stored(&pool, &room).await == 4
    })
    .await;
    next.stop().await.unwrap();
}
