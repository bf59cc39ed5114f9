//! The harness of the end-to-end tests: nodes started in-process on port 0 against the real
//! PostgreSQL, NATS and Redis, each test with a database of its own.
//!
//! Services are found through `CHAT_TEST_DATABASE_URL` (an admin URL; default
//! `postgres://postgres@127.0.0.1:5432/postgres`), `NATS_URL` and `REDIS_URL` (defaults on
//! 127.0.0.1). Set `TEST_LOG=1` to see the nodes' logs.

pub mod chatter;
pub mod embedded;
pub mod nats_cluster;
pub mod outage;
pub mod process;
pub mod socketio;
pub mod webhook_receiver;
pub mod ws;

use std::net::SocketAddr;

use anyhow::Context;
use chat_node::Application;
use chat_node::config::Cli;
use clap::Parser;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::oneshot;

pub const JWT_SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";

/// The URL of the shared PostgreSQL server's `postgres` database, as an administrator.
pub fn admin_url() -> String {
    std::env::var("CHAT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Runs a clean-up from `Drop`. The test's runtime may be blocked in that very drop, so the
/// clean-up gets a small runtime of its own on another thread.
fn clean_up(work: impl std::future::Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
            rt.block_on(work);
        }
    })
    .join();
}

/// A database that exists for one test and is dropped after it.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
}

impl TestDatabase {
    pub async fn create() -> anyhow::Result<Self> {
        let name = format!("chat_test_{}", uuid::Uuid::new_v4().simple());
        let admin = admin_url();
        let mut conn = PgConnection::connect(&admin).await.context("connecting to PostgreSQL")?;
        sqlx::query(&format!("create database {name}")).execute(&mut conn).await?;
        conn.close().await?;
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
        let url = format!("{base}/{name}");
        let pool = PgPool::connect(&url).await?;
        Ok(Self { name, url, pool })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // `with (force)` ends the connections still open to the database.
        clean_up(async move {
            if let Ok(mut conn) = PgConnection::connect(&admin_url()).await {
                let _ = sqlx::query(&format!("drop database if exists {name} with (force)"))
                    .execute(&mut conn)
                    .await;
            }
        });
    }
}

/// A message stream and Redis key prefix of one test, deleted when the test ends.
pub struct TestStream {
    pub prefix: String,
}

impl TestStream {
    pub fn new() -> Self {
        Self { prefix: format!("t{}", uuid::Uuid::new_v4().simple()) }
    }
}

impl Default for TestStream {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestStream {
    fn drop(&mut self) {
        let stream = format!("{}_messages", self.prefix);
        let keys = format!("{}:*", self.prefix);
        clean_up(async move {
            if let Ok(client) = async_nats::connect(nats_url()).await {
                let _ = async_nats::jetstream::new(client).delete_stream(&stream).await;
            }
            let _ = delete_redis_keys(&keys).await;
        });
    }
}

/// Deletes the keys matching `pattern` (tests only: it uses KEYS).
async fn delete_redis_keys(pattern: &str) -> Result<(), fred::error::Error> {
    use fred::prelude::*;
    let client = Builder::from_config(Config::from_url(&redis_url())?).build()?;
    client.init().await?;
    let script = "local keys = redis.call('KEYS', ARGV[1]) \
                  for _, key in ipairs(keys) do redis.call('DEL', key) end return #keys";
    let _: i64 = client.eval(script, Vec::<String>::new(), vec![pattern.to_owned()]).await?;
    client.quit().await
}

/// A persister running in this process until dropped or stopped.
pub struct TestPersister {
    /// Where `/healthz`, `/readyz` and `/metrics` are served.
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestPersister {
    pub async fn start(db: &TestDatabase, stream: &TestStream) -> anyhow::Result<Self> {
        Self::start_with(&db.url, stream, &[]).await
    }

    /// A persister writing to the database at `database_url`, with `extra` flags replacing or
    /// adding to the defaults.
    pub async fn start_with(database_url: &str, stream: &TestStream, extra: &[&str]) -> anyhow::Result<Self> {
        let args = [
            "chat-persister",
            "--listen",
            "127.0.0.1:0",
            "--nats-url",
            &nats_url(),
            "--database-url",
            database_url,
            "--stream-prefix",
            &stream.prefix,
            "--batch-size",
            "100",
            // A crashed persister's batch comes back to the others this soon.
            "--ack-wait",
            "2s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let cli = chat_persister::Cli::try_parse_from(with_overrides(args, extra))?;
        let persister = chat_persister::Persister::build(cli).await?;
        let addr = persister.local_addr();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(persister.run_until(async move {
            let _ = rx.await;
        }));
        Ok(Self { addr, shutdown: Some(tx), task })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Ends it abruptly, as a crash would: nothing in hand is acknowledged.
    pub fn crash(self) {
        self.task.abort();
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await?
    }
}

impl Drop for TestPersister {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A node serving on a free port until dropped.
pub struct TestNode {
    pub addr: SocketAddr,
    /// Where `/metrics` is served, when `--metrics-listen` moved it off `addr`.
    pub metrics_addr: Option<SocketAddr>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestNode {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Asks the node to shut down gracefully and waits until it has.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shut_down().await
    }

    /// [`Self::stop`], keeping the value: for a test whose cluster goes on on other nodes.
    pub async fn shut_down(&mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await?,
            None => Ok(()),
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Node arguments for a test against `db` and `stream`, followed by `extra` flags.
pub fn node_args(db: &TestDatabase, stream: &TestStream, extra: &[&str]) -> Vec<String> {
    node_args_for(&db.url, stream, extra)
}

/// Node arguments for a test against the database at `database_url` and `stream`, followed by
/// `extra` flags.
pub fn node_args_for(database_url: &str, stream: &TestStream, extra: &[&str]) -> Vec<String> {
    let args: Vec<String> = [
        "chat-node",
        "--listen",
        "127.0.0.1:0",
        "--nats-url",
        &nats_url(),
        "--database-url",
        database_url,
        "--redis-url",
        &redis_url(),
        "--jwt-secret",
        JWT_SECRET,
        "--stream-prefix",
        &stream.prefix,
        "--redis-prefix",
        &stream.prefix,
        "--presence-grace",
        "200ms",
        // Cheap hashes keep the suite fast; the production cost is the default.
        "--argon2-memory-kib",
        "1024",
        "--argon2-iterations",
        "1",
    ]
    .iter()
    .chain(NO_ABUSE_LIMITS)
    .map(|s| s.to_string())
    .collect();
    with_overrides(args, extra)
}

/// Flags that turn every abuse limit off: tests register and log in far more often than any
/// client should, all from one address. The tests of the limits set theirs on top.
pub const NO_ABUSE_LIMITS: &[&str] = &[
    "--login-limit-per-ip",
    "off",
    "--login-limit-per-username",
    "off",
    "--register-limit-per-ip",
    "off",
    "--refresh-limit-per-ip",
    "off",
    "--write-limit-per-user",
    "off",
    "--rest-send-limit-per-user",
    "off",
    "--search-limit-per-user",
    "off",
];

/// `args` followed by `extra`; a flag in `extra` that `args` sets already replaces its value.
pub(crate) fn with_overrides(mut args: Vec<String>, extra: &[&str]) -> Vec<String> {
    let mut extra = extra.iter();
    while let Some(flag) = extra.next() {
        match args.iter().position(|a| a == flag) {
            Some(at) if flag.starts_with("--") => {
                if let Some(value) = extra.next() {
                    args[at + 1] = value.to_string();
                }
            }
            _ => args.push(flag.to_string()),
        }
    }
    args
}

pub async fn start_node(args: Vec<String>) -> anyhow::Result<TestNode> {
    if std::env::var_os("TEST_LOG").is_some() {
        chat_node::telemetry::init_tracing(chat_node::telemetry::LogFormat::Text);
    }
    let cli = Cli::try_parse_from(args)?;
    let app = Application::build(cli.config).await?;
    let addr = app.local_addr();
    let metrics_addr = app.metrics_addr();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    Ok(TestNode { addr, metrics_addr, shutdown: Some(tx), task: Some(task) })
}

/// A call to the node at `addr`, with a bearer `token` and a JSON `body` if given.
pub async fn call_at(
    http: &reqwest::Client,
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a valid method");
    let mut request = http.request(method, format!("http://{addr}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the node answers");
    read_answer(response).await
}

/// A response's status, headers and JSON body.
async fn read_answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("a readable body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Answer { status, body, headers }
}

/// One database and one node on it, with a typed HTTP client.
pub struct TestApp {
    pub node: TestNode,
    pub http: reqwest::Client,
    pub extra_args: Vec<String>,
    // Dropped last, after the node that uses them.
    pub stream: TestStream,
    pub db: TestDatabase,
}

/// What a call answered: the status and the JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// The contract's error code, if this is an error answer.
    pub fn code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }
}

/// A registered user and their tokens.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub username: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
}

impl TestApp {
    pub async fn spawn() -> anyhow::Result<Self> {
        Self::spawn_with(&[]).await
    }

    pub async fn spawn_with(extra: &[&str]) -> anyhow::Result<Self> {
        let db = TestDatabase::create().await?;
        let stream = TestStream::new();
        let node = start_node(node_args(&db, &stream, extra)).await?;
        let extra_args = extra.iter().map(|s| s.to_string()).collect();
        Ok(Self { db, stream, node, http: reqwest::Client::new(), extra_args })
    }

    /// Another node of the same cluster.
    pub async fn add_node(&self) -> anyhow::Result<TestNode> {
        let extra: Vec<&str> = self.extra_args.iter().map(String::as_str).collect();
        start_node(node_args(&self.db, &self.stream, &extra)).await
    }

    pub async fn start_persister(&self) -> anyhow::Result<TestPersister> {
        TestPersister::start(&self.db, &self.stream).await
    }

    /// A WebSocket client of `node`, authenticated by query token.
    pub async fn ws(&self, node: &TestNode, account: &Account, codec: ws::Codec) -> ws::WsClient {
        ws::WsClient::connect(node.addr, Some(&account.access), codec).await.expect("a WebSocket connection")
    }

    /// Waits until PostgreSQL holds `count` messages of the room, or the wait ends.
    pub async fn persisted(&self, room: &str, count: i64, wait: std::time::Duration) -> i64 {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let rows: i64 = sqlx::query_scalar("select count(*) from messages where room_id = $1::uuid")
                .bind(room)
                .fetch_one(&self.db.pool)
                .await
                .expect("counting messages");
            if rows >= count || tokio::time::Instant::now() >= deadline {
                return rows;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        self.call_on(&self.node, method, path, token, body).await
    }

    /// A call to another node of the cluster.
    pub async fn call_on(
        &self,
        node: &TestNode,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        self.call_at(node.addr, method, path, token, body).await
    }

    /// A call to the node at `addr` (a node process, say).
    pub async fn call_at(
        &self,
        addr: std::net::SocketAddr,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        call_at(&self.http, addr, method, path, token, body).await
    }

    /// Sends a raw body with a JSON content type.
    pub async fn call_raw(&self, method: &str, path: &str, token: Option<&str>, body: Vec<u8>) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a valid method");
        let mut request =
            self.http.request(method, self.node.url(path)).header("content-type", "application/json");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.body(body).send().await.expect("the node answers");
        read_answer(response).await
    }

    pub async fn register(&self, username: &str) -> Account {
        let password = format!("{username}-password");
        let answer = self
            .call("POST", "/auth/register", None, Some(json!({ "username": username, "password": password })))
            .await;
        assert_eq!(answer.status, 201, "registering {username}: {:?}", answer.body);
        Account {
            id: answer.body["user"]["id"].as_str().expect("a user id").to_owned(),
            username: username.to_owned(),
            password,
            access: answer.body["access_token"].as_str().expect("an access token").to_owned(),
            refresh: answer.body["refresh_token"].as_str().expect("a refresh token").to_owned(),
        }
    }

    /// Whether `user` is online in `room`, as `viewer` sees it.
    pub async fn is_online(&self, room: &str, viewer: &Account, user: &Account) -> bool {
        let presence = self.call("GET", &format!("/rooms/{room}/presence"), Some(&viewer.access), None).await;
        presence.body["online"].as_array().expect("an online list").iter().any(|id| id == user.id.as_str())
    }

    /// Creates a room as `owner` and returns its id.
    pub async fn create_room(&self, owner: &Account, room_type: &str, members: &[&Account]) -> String {
        let ids: Vec<&str> = members.iter().map(|a| a.id.as_str()).collect();
        let body = json!({ "name": format!("{room_type} room"), "type": room_type, "member_ids": ids });
        let answer = self.call("POST", "/rooms", Some(&owner.access), Some(body)).await;
        assert!(answer.status == 201 || answer.status == 200, "creating a room: {:?}", answer.body);
        answer.body["id"].as_str().expect("a room id").to_owned()
    }
}
