//! Embedded nodes started in-process, each on a data folder that a test owns and that outlives
//! the node, so a test can stop one and start another on the same data.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::{Account, Answer, TestNode, start_node, ws};

/// A fresh folder under the system's temporary one, removed when dropped.
pub struct DataDir {
    pub path: PathBuf,
}

impl DataDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("chat-test-{}", uuid::Uuid::new_v4().simple()));
        Self { path }
    }
}

impl Default for DataDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Arguments of an embedded node on `data_dir`, followed by `extra` flags. The service URLs and
/// the JWT secret are given blank (which counts as unset), so the test's own environment
/// cannot turn the node into a cluster node or replace the generated key.
pub fn embedded_args(data_dir: &Path, extra: &[&str]) -> Vec<String> {
    let data_dir = data_dir.to_string_lossy();
    let args: Vec<String> = [
        "chat-node",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        &data_dir,
        "--nats-url",
        "",
        "--database-url",
        "",
        "--redis-url",
        "",
        "--jwt-secret",
        "",
        "--presence-grace",
        "200ms",
        // Cheap hashes keep the suite fast; the production cost is the default.
        "--argon2-memory-kib",
        "1024",
        "--argon2-iterations",
        "1",
    ]
    .iter()
    .chain(crate::NO_ABUSE_LIMITS)
    .map(|s| s.to_string())
    .collect();
    crate::with_overrides(args, extra)
}

/// An embedded node with a typed HTTP client.
pub struct EmbeddedApp {
    pub node: TestNode,
    pub http: reqwest::Client,
}

impl EmbeddedApp {
    /// Starts an embedded node on `data_dir` (created if missing).
    pub async fn spawn(data_dir: &DataDir) -> anyhow::Result<Self> {
        let node = start_node(embedded_args(&data_dir.path, &[])).await?;
        Ok(Self { node, http: reqwest::Client::new() })
    }

    /// Stops the node gracefully; its data folder stays.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.node.stop().await
    }

    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        crate::call_at(&self.http, self.node.addr, method, path, token, body).await
    }

    pub async fn register(&self, username: &str) -> Account {
        let password = format!("{username}-password");
        let body = json!({ "username": username, "password": password });
        let answer = self.call("POST", "/auth/register", None, Some(body)).await;
        assert_eq!(answer.status, 201, "registering {username}: {:?}", answer.body);
        Account {
            id: answer.body["user"]["id"].as_str().expect("a user id").to_owned(),
            username: username.to_owned(),
            password,
            access: answer.body["access_token"].as_str().expect("an access token").to_owned(),
            refresh: answer.body["refresh_token"].as_str().expect("a refresh token").to_owned(),
        }
    }

    /// Creates a group room as `owner` and returns its id.
    pub async fn create_room(&self, owner: &Account, members: &[&Account]) -> String {
        let ids: Vec<&str> = members.iter().map(|a| a.id.as_str()).collect();
        let body = json!({ "name": "group room", "type": "group", "member_ids": ids });
        let answer = self.call("POST", "/rooms", Some(&owner.access), Some(body)).await;
        assert_eq!(answer.status, 201, "creating a room: {:?}", answer.body);
        answer.body["id"].as_str().expect("a room id").to_owned()
    }

    /// A WebSocket client, authenticated by query token.
    pub async fn ws(&self, account: &Account, codec: ws::Codec) -> ws::WsClient {
        ws::WsClient::connect(self.node.addr, Some(&account.access), codec)
            .await
            .expect("a WebSocket connection")
    }
}
