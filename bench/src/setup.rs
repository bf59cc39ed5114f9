//! Accounts and rooms for a run, over REST: `R*M` users under a random run prefix and `R`
//! group rooms of `M` members each, the first member owning the room.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt, stream};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::target::Node;

/// Long enough for the server's 8-character minimum; every bench user has it.
pub const PASSWORD: &str = "chat-bench-password";
/// Attempts of one REST call answered 429 or 503 before giving up.
const ATTEMPTS: u32 = 5;

#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    /// The access token, good for `lifetime`.
    pub token: String,
    /// What renews it (once: each refresh hands out the next).
    pub refresh_token: String,
    pub lifetime: Duration,
}

/// What a run works with: accounts in room order (room `r` holds accounts `r*M..(r+1)*M`;
/// none for the Socket.IO peer).
#[derive(Debug)]
pub struct Fixture {
    pub prefix: String,
    pub accounts: Vec<Account>,
    pub rooms: Vec<String>,
    pub register_secs: f64,
    pub rooms_secs: f64,
}

#[derive(Deserialize)]
struct AuthBody {
    user: UserBody,
    access_token: String,
    refresh_token: String,
    expires_in: u64,
}

impl AuthBody {
    fn into_account(self) -> Account {
        Account {
            id: self.user.id,
            token: self.access_token,
            refresh_token: self.refresh_token,
            lifetime: Duration::from_secs(self.expires_in),
        }
    }
}

#[derive(Deserialize)]
struct UserBody {
    id: String,
}

#[derive(Deserialize)]
struct RoomBody {
    id: String,
}

/// The username of the run's `i`th account.
pub fn username(prefix: &str, i: usize) -> String {
    format!("b{prefix}_{i}")
}

/// A fresh prefix per run, so runs against one database never collide on usernames.
pub fn run_prefix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

pub async fn create(
    http: &reqwest::Client,
    nodes: &[Node],
    rooms: u32,
    members: u32,
    concurrency: usize,
) -> anyhow::Result<Fixture> {
    let prefix = run_prefix();
    let users = (rooms * members) as usize;

    let started = Instant::now();
    let accounts: Vec<Account> = stream::iter(0..users)
        .map(|i| register(http, &nodes[i % nodes.len()], username(&prefix, i)))
        .buffered(concurrency)
        .try_collect()
        .await?;
    let register_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let room_ids: Vec<String> = stream::iter(0..rooms as usize)
        .map(|r| {
            let members = &accounts[r * members as usize..(r + 1) * members as usize];
            create_room(
                http,
                &nodes[r % nodes.len()],
                &members[0],
                &members[1..],
                format!("bench {prefix} {r}"),
            )
        })
        .buffered(concurrency)
        .try_collect()
        .await?;
    let rooms_secs = started.elapsed().as_secs_f64();

    Ok(Fixture { prefix, accounts, rooms: room_ids, register_secs, rooms_secs })
}

/// Rooms by name for the Socket.IO peer, which has no accounts and creates a room on the first
/// join: `sio-<run prefix>-<n>`.
pub fn named_rooms(rooms: u32) -> Fixture {
    let prefix = run_prefix();
    let rooms = (0..rooms).map(|r| format!("sio-{prefix}-{r}")).collect();
    Fixture { prefix, accounts: Vec::new(), rooms, register_secs: 0.0, rooms_secs: 0.0 }
}

pub async fn register(http: &reqwest::Client, node: &Node, username: String) -> anyhow::Result<Account> {
    let body = json!({ "username": username, "password": PASSWORD });
    let auth: AuthBody = post(http, &node.url("/auth/register"), None, &body, StatusCode::CREATED)
        .await
        .with_context(|| format!("registering {username} at {}", node.base))?;
    Ok(auth.into_account())
}

pub async fn create_room(
    http: &reqwest::Client,
    node: &Node,
    owner: &Account,
    others: &[Account],
    name: String,
) -> anyhow::Result<String> {
    let member_ids: Vec<&str> = others.iter().map(|a| a.id.as_str()).collect();
    let body = json!({ "name": name, "type": "group", "member_ids": member_ids });
    let room: RoomBody = post(http, &node.url("/rooms"), Some(&owner.token), &body, StatusCode::CREATED)
        .await
        .with_context(|| format!("creating room {name:?} at {}", node.base))?;
    Ok(room.id)
}

/// Logs in as `username` with the bench's password.
pub async fn login(http: &reqwest::Client, node: &Node, username: &str) -> anyhow::Result<Account> {
    let body = json!({ "username": username, "password": PASSWORD });
    let auth: AuthBody = post(http, &node.url("/auth/login"), None, &body, StatusCode::OK)
        .await
        .with_context(|| format!("logging in as {username} at {}", node.base))?;
    Ok(auth.into_account())
}

/// Trades `account`'s refresh token for a new pair, as a client does before its access token
/// expires.
pub async fn refresh(http: &reqwest::Client, node: &Node, account: &Account) -> anyhow::Result<Account> {
    let body = json!({ "refresh_token": account.refresh_token });
    let auth: AuthBody = post(http, &node.url("/auth/refresh"), None, &body, StatusCode::OK)
        .await
        .with_context(|| format!("refreshing the login of {} at {}", account.id, node.base))?;
    Ok(auth.into_account())
}

/// POSTs JSON and reads the expected status's body, retrying while the server sheds load.
pub async fn post<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &serde_json::Value,
    expected: StatusCode,
) -> anyhow::Result<T> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut request = http.post(url).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status();
        if status == expected {
            return Ok(response.json().await?);
        }
        let retryable = status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE;
        if retryable && attempt < ATTEMPTS {
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            continue;
        }
        let text = response.text().await.unwrap_or_default();
        bail!("{status}: {text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_prefixes_make_valid_distinct_usernames() {
        let (a, b) = (run_prefix(), run_prefix());
        assert_ne!(a, b);
        let longest = username(&a, 1_001_000);
        assert!(longest.len() <= 32);
        assert!(longest.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
    }

    #[test]
    fn peer_rooms_are_named_per_run() {
        let fixture = named_rooms(3);
        assert_eq!(fixture.rooms.len(), 3);
        assert_eq!(fixture.rooms[2], format!("sio-{}-2", fixture.prefix));
        assert!(fixture.accounts.is_empty());
    }
}
