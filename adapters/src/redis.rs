//! `PresenceStore` in Redis (through `fred`): who is online in which room, shared by every node,
//! with per-node heartbeats so the entries of a node that died are swept by the living.
//!
//! Keys, all under the deployment's prefix `P`:
//! - `P:presence:{room}` hash: user → `1` for each user online in the room on some live node;
//!   `HLEN` is the room's count.
//! - `P:presence:{room}:{user}` hash: node → that node's connection count for the user.
//! - `P:node:{node}:entries` set of `{room}|{user}`: the entries a node has, so that a dead
//!   node's can be found without scanning the keyspace.
//! - `P:nodes` sorted set: node → heartbeat expiry in ms of *Redis server* time, so that nodes
//!   whose clocks disagree still agree on who is dead.
//! - `P:sweep:{node}` string: the lock of the one sweeper working on a dead node.
//!
//! Every update is one Lua script, so it is atomic and one round trip. The scripts touch several
//! keys with unrelated hash slots: this adapter is for a single Redis (or a primary with
//! replicas), not Redis Cluster.

mod tls;

use tls::FirstConnection;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chat_shared::domain::{RoomId, UserId};
use chat_shared::ports::{OnlineChange, PresenceError, PresenceStore, Probe, ProbeError};
use fred::prelude::*;
use fred::types::scripts::Script;

/// How long a call may take before it fails. Presence is best effort: a join must not wait on
/// a Redis that does not answer.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How long `connect` waits for the first connection before returning a client that keeps
/// trying in the background.
const FIRST_CONNECT_WAIT: Duration = Duration::from_secs(2);
/// Entries of a dead node removed per round of a sweep: small enough that no script or batch
/// holds Redis for long, large enough that 100k entries take 1,000 rounds, not 100k.
const SWEEP_CHUNK: usize = 100;
/// Lifetime of a sweep lock, renewed after every chunk; if a sweeper dies, another takes over
/// after this.
const SWEEP_LOCK_MS: u64 = 10_000;
/// Dead nodes looked at per sweep; the rest wait for the next one.
const SWEEP_MAX_NODES: usize = 100;

/// Sets this node's connection count for a user in a room.
/// KEYS: room hash, user hash, this node's entries set.
/// ARGV: user, node, count, `room|user`. Returns `{was online, is online}`.
const SET: &str = r"
local was = redis.call('HEXISTS', KEYS[1], ARGV[1])
if tonumber(ARGV[3]) > 0 then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
  if was == 0 then redis.call('HSET', KEYS[1], ARGV[1], '1') end
  redis.call('SADD', KEYS[3], ARGV[4])
  return {was, 1}
end
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('SREM', KEYS[3], ARGV[4])
if redis.call('HLEN', KEYS[2]) > 0 then
  -- other nodes still hold the user; repair the room field if it was lost
  if was == 0 then redis.call('HSET', KEYS[1], ARGV[1], '1') end
  return {was, 1}
end
redis.call('HDEL', KEYS[1], ARGV[1])
return {was, 0}
";

/// Removes one entry of a dead node, unless the node beat again since the sweep began (then
/// its entries are its own again). Empty hashes vanish by themselves in Redis, so there is
/// nothing to `DEL`. Returns 1 only when this very call took the user offline, so that two
/// sweepers racing over one entry report it once.
/// KEYS: room hash, user hash, dead node's entries set, nodes. ARGV: user, dead node, `room|user`.
const REMOVE: &str = r"
local expiry = redis.call('ZSCORE', KEYS[4], ARGV[2])
if expiry and tonumber(expiry) >= now then return 0 end
redis.call('SREM', KEYS[3], ARGV[3])
if redis.call('HDEL', KEYS[2], ARGV[2]) == 0 then return 0 end
if redis.call('HLEN', KEYS[2]) > 0 then return 0 end
return redis.call('HDEL', KEYS[1], ARGV[1])
";

/// Server time in ms, shared by the scripts below (`TIME` is allowed in scripts that write
/// since Redis 5 replicates script effects, not scripts).
const NOW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
";

/// KEYS: nodes. ARGV: node, ttl in ms. Returns 1 when the node was unknown or its previous
/// beat had expired, i.e. when a sweeper may have removed some of its entries.
const HEARTBEAT: &str = r"
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
if expiry and tonumber(expiry) >= now then return 0 end
return 1
";

/// KEYS: nodes. ARGV: max nodes. The nodes whose heartbeat expired.
const EXPIRED: &str = r"
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, tonumber(ARGV[1]))
";

/// Takes (ARGV[3] = 'take') or renews the sweep lock of a dead node, only while the node is
/// still dead: a node that beats again mid-sweep stops the sweep at the next chunk.
/// KEYS: nodes, lock. ARGV: dead node, token, 'take' | 'renew', lock ms. Returns 1 if held.
const LOCK: &str = r"
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expiry or tonumber(expiry) >= now then return 0 end
if ARGV[3] == 'take' then
  if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[4]) then return 1 end
  return 0
end
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
";

/// Ends a sweep: forgets the node if it is still dead and has no entries left, and releases
/// the lock if still ours. KEYS: nodes, dead node's entries set, lock. ARGV: dead node, token.
const FINISH: &str = r"
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if expiry and tonumber(expiry) < now and redis.call('SCARD', KEYS[2]) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
end
if redis.call('GET', KEYS[3]) == ARGV[2] then redis.call('DEL', KEYS[3]) end
return 0
";

/// KEYS: room hash. ARGV: limit. Returns `{count, up to limit users}` from one snapshot;
/// `HRANDFIELD` with a count costs O(limit), not O(users in the room).
const ONLINE: &str = r"
return {redis.call('HLEN', KEYS[1]), redis.call('HRANDFIELD', KEYS[1], ARGV[1])}
";

/// Why [`RedisPresence::connect`] gave up.
#[derive(Debug, thiserror::Error)]
pub enum RedisConnectError {
    #[error("unsupported Redis URL scheme {0:?}")]
    Scheme(String),
    #[error("invalid Redis URL")]
    Url(#[source] Error),
    #[error("a CA file is only used over TLS: the URL must start with rediss://")]
    CaWithoutTls,
    #[error("cannot use {path} as Redis' CA file: {why}")]
    CaFile { path: PathBuf, why: String },
    #[error("Redis refused the connection, or its certificate did not check out")]
    Refused(#[source] Error),
}

/// Presence in Redis for one node. Clones share the connection.
#[derive(Clone)]
pub struct RedisPresence {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    prefix: String,
    node: String,
    /// `P:nodes`.
    nodes_key: String,
    /// This node's entries set.
    entries_key: String,
    /// Whether this node's heartbeat has been registered once, so a later beat that finds it
    /// missing (swept, or Redis lost its data) can be told apart from the first.
    beaten: AtomicBool,
    scripts: Scripts,
}

struct Scripts {
    set: Script,
    remove: Script,
    heartbeat: Script,
    expired: Script,
    lock: Script,
    finish: Script,
    online: Script,
}

impl Scripts {
    fn new() -> Self {
        let timed = |body: &str| Script::from_lua(format!("{NOW}{body}"));
        Self {
            set: Script::from_lua(SET),
            remove: timed(REMOVE),
            heartbeat: timed(HEARTBEAT),
            expired: timed(EXPIRED),
            lock: timed(LOCK),
            finish: timed(FINISH),
            online: Script::from_lua(ONLINE),
        }
    }
}

/// Counts and wraps a Redis failure.
fn failure(err: Error) -> PresenceError {
    metrics::counter!("chat_presence_redis_errors_total").increment(1);
    PresenceError::new(err)
}

impl RedisPresence {
    /// Connects as node `node_id`, with keys under `prefix`. A malformed URL is an error; Redis
    /// being down is not: the client is returned after at most two seconds and keeps
    /// reconnecting (100 ms, doubling up to 5 s, forever), and calls fail fast meanwhile.
    pub async fn connect(url: &str, prefix: &str, node_id: &str) -> Result<Self, RedisConnectError> {
        Self::connect_trusting(url, None, prefix, node_id).await
    }

    /// As [`connect`](Self::connect); a `rediss://` URL is served over TLS, the server's
    /// certificate checked against the authorities of `ca_file`, or the system's without it.
    /// A server that refuses the first connection (its certificate does not check out, the
    /// password is wrong) is an error, unlike one that does not answer.
    pub async fn connect_trusting(
        url: &str,
        ca_file: Option<&Path>,
        prefix: &str,
        node_id: &str,
    ) -> Result<Self, RedisConnectError> {
        // fred takes any scheme as plain Redis, and a cluster would reject the scripts' keys.
        let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
        if !(scheme.starts_with("redis") || scheme.starts_with("valkey")) || scheme.ends_with("-cluster") {
            return Err(RedisConnectError::Scheme(scheme.to_owned()));
        }
        let mut config = Config::from_url(url).map_err(RedisConnectError::Url)?;
        if let Some(ca_file) = ca_file {
            if config.tls.is_none() {
                return Err(RedisConnectError::CaWithoutTls);
            }
            let tls = tls::trusting(ca_file)
                .map_err(|why| RedisConnectError::CaFile { path: ca_file.to_owned(), why })?;
            config.tls = Some(tls);
        }
        // Without this, a first connection that fails ends the client instead of retrying.
        config.fail_fast = false;
        let client = Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = COMMAND_TIMEOUT;
                c.internal_command_timeout = COMMAND_TIMEOUT;
                // A connection that stops answering (a half-open TCP connection) is dropped
                // and redialled, so `is_connected` turns false and calls fail fast.
                c.unresponsive.max_timeout = Some(2 * COMMAND_TIMEOUT);
                c.unresponsive.interval = Duration::from_secs(1);
            })
            .with_performance_config(|p| p.default_command_timeout = COMMAND_TIMEOUT)
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .build()
            .map_err(RedisConnectError::Url)?;
        match tls::first_connection(&client, FIRST_CONNECT_WAIT).await {
            FirstConnection::Made => {}
            FirstConnection::Refused(err) => {
                // Stops the reconnection loop; the QUIT itself goes unanswered.
                tokio::spawn(async move { client.quit().await });
                return Err(RedisConnectError::Refused(err));
            }
            FirstConnection::Unreachable(Some(err)) => {
                tracing::warn!(error = %err, "Redis is unreachable; presence is degraded until it answers")
            }
            FirstConnection::Unreachable(None) => {
                tracing::warn!("Redis is unreachable; presence is degraded until it answers")
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                nodes_key: format!("{prefix}:nodes"),
                entries_key: format!("{prefix}:node:{node_id}:entries"),
                prefix: prefix.to_owned(),
                node: node_id.to_owned(),
                beaten: AtomicBool::new(false),
                scripts: Scripts::new(),
            }),
        })
    }

    /// Rate limits over this client's connection, under the same key prefix.
    pub fn rate_limiter(&self) -> crate::redis_limits::RedisRateLimiter {
        let (client, prefix) = self.shared_client();
        crate::redis_limits::RedisRateLimiter::new(client.clone(), prefix)
    }

    /// The connection and key prefix, for the deployment's other uses of Redis.
    pub(crate) fn shared_client(&self) -> (&Client, &str) {
        (&self.inner.client, &self.inner.prefix)
    }

    /// The `/readyz` check of this client's connection.
    pub fn probe(&self) -> RedisProbe {
        RedisProbe(self.inner.client.clone())
    }

    /// Marks this node alive for `ttl` and returns `false` when the store did not count it as
    /// alive until now: on the first beat, and later when its previous beat had expired (so a
    /// sweeper may have removed some of its entries) or Redis lost its data. In the last two
    /// cases the node should `set` all its entries again. Sweepers stop touching a node's
    /// entries as soon as it beats, so that rewrite is not undone.
    pub async fn heartbeat_was_known(&self, ttl: Duration) -> Result<bool, PresenceError> {
        let inner = &self.inner;
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).to_string();
        let lapsed: i64 = self
            .eval(&inner.scripts.heartbeat, vec![inner.nodes_key.clone()], vec![inner.node.clone(), ttl_ms])
            .await?;
        let first = !inner.beaten.swap(true, Ordering::Relaxed);
        if lapsed == 1 && !first {
            tracing::warn!(node = %inner.node, "this node's presence lapsed in Redis; its entries may be lost");
        }
        Ok(lapsed == 0)
    }

    /// Stops the client's connection and reconnection task; calls fail afterwards.
    pub async fn close(&self) {
        let client = self.inner.client.clone();
        if client.is_connected() {
            let _ = client.quit().await;
        } else {
            // Quitting stops the reconnection loop at once, but the QUIT itself is never
            // answered and would wait for the command timeout.
            tokio::spawn(async move { client.quit().await });
        }
    }

    /// Runs a script. While the client is disconnected, fails at once: fred would otherwise
    /// queue the command until the command timeout.
    async fn eval<R: FromValue>(
        &self,
        script: &Script,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<R, PresenceError> {
        self.ensure_connected()?;
        script.evalsha_with_reload(&self.inner.client, keys, args).await.map_err(failure)
    }

    fn ensure_connected(&self) -> Result<(), PresenceError> {
        if self.inner.client.is_connected() {
            Ok(())
        } else {
            Err(failure(Error::new(ErrorKind::IO, "Redis is unreachable")))
        }
    }

    fn room_key(&self, room: &str) -> String {
        format!("{}:presence:{room}", self.inner.prefix)
    }

    fn user_key(&self, room: &str, user: &str) -> String {
        format!("{}:presence:{room}:{user}", self.inner.prefix)
    }

    /// Sweeps one dead node unless another sweeper holds it, adding the pairs that went
    /// offline to `gone`.
    async fn sweep_node(&self, dead: &str, gone: &mut Vec<(RoomId, UserId)>) -> Result<(), PresenceError> {
        let inner = &self.inner;
        let prefix = &inner.prefix;
        let lock_keys = vec![inner.nodes_key.clone(), format!("{prefix}:sweep:{dead}")];
        let token = uuid::Uuid::new_v4().to_string();
        let lock_args =
            |mode: &str| vec![dead.to_owned(), token.clone(), mode.to_owned(), SWEEP_LOCK_MS.to_string()];
        let held: i64 = self.eval(&inner.scripts.lock, lock_keys.clone(), lock_args("take")).await?;
        if held == 0 {
            return Ok(());
        }
        let entries_key = format!("{prefix}:node:{dead}:entries");
        loop {
            self.ensure_connected()?;
            let entries: Vec<String> =
                inner.client.srandmember(&entries_key, Some(SWEEP_CHUNK)).await.map_err(failure)?;
            // Sent together, the removals go out pipelined on the one connection.
            let removals = entries.iter().map(|entry| self.remove_entry(&entries_key, dead, entry));
            let mut failed = None;
            for (entry, removed) in entries.iter().zip(futures::future::join_all(removals).await) {
                match removed {
                    // Report what was removed even if a neighbour failed: nobody else will.
                    Ok(true) => {
                        if let Some((room, user)) = entry.split_once('|')
                            && let (Ok(room), Ok(user)) = (room.parse(), user.parse())
                        {
                            gone.push((room, user));
                        }
                    }
                    Ok(false) => {}
                    Err(err) => failed = failed.or(Some(err)),
                }
            }
            if let Some(err) = failed {
                return Err(err);
            }
            if entries.len() < SWEEP_CHUNK {
                break;
            }
            let held: i64 = self.eval(&inner.scripts.lock, lock_keys.clone(), lock_args("renew")).await?;
            if held == 0 {
                // Another sweeper took over after our lock expired, or the node came back.
                break;
            }
        }
        let keys = vec![inner.nodes_key.clone(), entries_key, lock_keys[1].clone()];
        let _: i64 = self.eval(&inner.scripts.finish, keys, vec![dead.to_owned(), token]).await?;
        Ok(())
    }

    /// Removes one entry of a dead node; `true` when that took the user offline in the room.
    async fn remove_entry(&self, entries_key: &str, dead: &str, entry: &str) -> Result<bool, PresenceError> {
        let Some((room, user)) = entry.split_once('|') else {
            // Not written by this adapter; drop it so the sweep ends.
            let _: i64 = self.inner.client.srem(entries_key, entry).await.map_err(failure)?;
            return Ok(false);
        };
        let keys = vec![
            self.room_key(room),
            self.user_key(room, user),
            entries_key.to_owned(),
            self.inner.nodes_key.clone(),
        ];
        let args = vec![user.to_owned(), dead.to_owned(), entry.to_owned()];
        let offline: i64 = self.eval(&self.inner.scripts.remove, keys, args).await?;
        Ok(offline == 1)
    }
}

#[async_trait]
impl PresenceStore for RedisPresence {
    async fn set(&self, room: RoomId, user: UserId, connections: u32) -> Result<OnlineChange, PresenceError> {
        let inner = &self.inner;
        let (room, user) = (room.to_string(), user.to_string());
        let keys = vec![self.room_key(&room), self.user_key(&room, &user), inner.entries_key.clone()];
        let entry = format!("{room}|{user}");
        let args = vec![user, inner.node.clone(), connections.to_string(), entry];
        let (was, is): (i64, i64) = self.eval(&inner.scripts.set, keys, args).await?;
        metrics::counter!("chat_presence_updates_total").increment(1);
        Ok(OnlineChange { before: was == 1, after: is == 1 })
    }

    async fn is_online(&self, room: RoomId, user: UserId) -> Result<bool, PresenceError> {
        self.ensure_connected()?;
        let key = self.room_key(&room.to_string());
        self.inner.client.hexists(key, user.to_string()).await.map_err(failure)
    }

    async fn online(&self, room: RoomId, limit: usize) -> Result<(Vec<UserId>, u64), PresenceError> {
        let keys = vec![self.room_key(&room.to_string())];
        let limit = i64::try_from(limit).unwrap_or(i64::MAX).to_string();
        let (count, users): (u64, Vec<String>) =
            self.eval(&self.inner.scripts.online, keys, vec![limit]).await?;
        Ok((users.iter().filter_map(|u| u.parse().ok()).collect(), count))
    }

    async fn heartbeat(&self, ttl: Duration) -> Result<(), PresenceError> {
        self.heartbeat_was_known(ttl).await.map(drop)
    }

    /// On a failure midway, the pairs already taken offline are returned rather than lost (the
    /// failure is logged and counted); the rest is swept by a later call.
    async fn sweep_dead_nodes(&self) -> Result<Vec<(RoomId, UserId)>, PresenceError> {
        let inner = &self.inner;
        let dead: Vec<String> = self
            .eval(&inner.scripts.expired, vec![inner.nodes_key.clone()], vec![SWEEP_MAX_NODES.to_string()])
            .await?;
        let mut gone = Vec::new();
        for node in dead.iter().filter(|node| **node != inner.node) {
            if let Err(err) = self.sweep_node(node, &mut gone).await {
                if gone.is_empty() {
                    return Err(err);
                }
                tracing::warn!(error = ?err, dead = %node, "sweep of dead nodes stopped midway");
                break;
            }
        }
        Ok(gone)
    }
}

/// The `/readyz` check of the Redis connection: reads the client's state, no round trip.
pub struct RedisProbe(Client);

#[async_trait]
impl Probe for RedisProbe {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn check(&self) -> Result<(), ProbeError> {
        if self.0.is_connected() { Ok(()) } else { Err(ProbeError::Unreachable) }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::Instant;

    use super::*;
    use chat_shared::ports::RateLimiter;

    fn url() -> String {
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
    }

    fn prefix() -> String {
        format!("test-presence-{}", uuid::Uuid::new_v4().simple())
    }

    /// Deletes every key under `prefix`.
    async fn clean(url: &str, prefix: &str) {
        let client = Builder::from_config(Config::from_url(url).unwrap()).build().unwrap();
        client.init().await.unwrap();
        let mut cursor = "0".to_owned();
        loop {
            let (next, keys): (String, Vec<String>) =
                client.scan_page(cursor, format!("{prefix}:*"), Some(1000), None).await.unwrap();
            if !keys.is_empty() {
                let _: i64 = client.del(keys).await.unwrap();
            }
            if next == "0" {
                break;
            }
            cursor = next;
        }
        client.quit().await.unwrap();
    }

    /// Two nodes on one prefix.
    async fn pair(prefix: &str) -> (RedisPresence, RedisPresence) {
        let a = RedisPresence::connect(&url(), prefix, "node-a").await.unwrap();
        let b = RedisPresence::connect(&url(), prefix, "node-b").await.unwrap();
        (a, b)
    }

    #[tokio::test]
    async fn a_user_is_online_while_any_node_holds_a_connection() {
        let prefix = prefix();
        let (a, b) = pair(&prefix).await;
        let (room, ann) = (RoomId::generate(), UserId::generate());

        assert!(!a.is_online(room, ann).await.unwrap());
        assert_eq!(
            a.set(room, ann, 1).await.unwrap(),
            OnlineChange { before: false, after: true },
            "first connection"
        );
        assert_eq!(
            a.set(room, ann, 2).await.unwrap(),
            OnlineChange { before: true, after: true },
            "second on the same node"
        );
        assert_eq!(
            b.set(room, ann, 1).await.unwrap(),
            OnlineChange { before: true, after: true },
            "another node"
        );
        assert_eq!(
            a.set(room, ann, 0).await.unwrap(),
            OnlineChange { before: true, after: true },
            "b still holds one"
        );
        assert!(b.is_online(room, ann).await.unwrap());
        assert_eq!(a.online(room, 10).await.unwrap(), (vec![ann], 1));
        assert_eq!(
            b.set(room, ann, 0).await.unwrap(),
            OnlineChange { before: true, after: false },
            "the last one"
        );
        assert!(!a.is_online(room, ann).await.unwrap());
        assert_eq!(a.online(room, 10).await.unwrap(), (vec![], 0));
        assert_eq!(
            b.set(room, ann, 0).await.unwrap(),
            OnlineChange { before: false, after: false },
            "leaving twice is harmless"
        );

        clean(&url(), &prefix).await;
    }

    #[tokio::test]
    async fn the_online_list_counts_everyone_and_honours_its_limit() {
        let prefix = prefix();
        let (a, b) = pair(&prefix).await;
        let (room, other) = (RoomId::generate(), RoomId::generate());
        let users: Vec<UserId> = (0..150).map(|_| UserId::generate()).collect();
        for (i, user) in users.iter().enumerate() {
            let node = if i % 2 == 0 { &a } else { &b };
            node.set(room, *user, 1).await.unwrap();
        }
        a.set(other, users[0], 3).await.unwrap();

        let (some, count) = a.online(room, 100).await.unwrap();
        assert_eq!((some.len(), count), (100, 150));
        let distinct: HashSet<_> = some.iter().collect();
        assert_eq!(distinct.len(), 100, "no user twice");
        assert!(some.iter().all(|u| users.contains(u)));

        let (all, count) = b.online(room, 1000).await.unwrap();
        assert_eq!(count, 150);
        assert_eq!(all.into_iter().collect::<HashSet<_>>(), users.iter().copied().collect());
        assert_eq!(a.online(room, 0).await.unwrap(), (vec![], 150));
        assert_eq!(a.online(other, 10).await.unwrap(), (vec![users[0]], 1));
        assert_eq!(a.online(RoomId::generate(), 10).await.unwrap(), (vec![], 0));

        clean(&url(), &prefix).await;
    }

    #[tokio::test]
    async fn a_node_that_stops_beating_is_swept_once_by_the_living() {
        let prefix = prefix();
        let (a, b) = pair(&prefix).await;
        let (room, ann, bob) = (RoomId::generate(), UserId::generate(), UserId::generate());
        // More entries than one sweep chunk, all of them only on a.
        let crowd: Vec<(RoomId, UserId)> =
            (0..SWEEP_CHUNK * 2 + 7).map(|_| (RoomId::generate(), UserId::generate())).collect();
        assert!(!a.heartbeat_was_known(Duration::from_secs(30)).await.unwrap(), "first beat");
        assert!(!b.heartbeat_was_known(Duration::from_secs(30)).await.unwrap());
        assert!(b.heartbeat_was_known(Duration::from_secs(30)).await.unwrap(), "second beat");
        a.set(room, ann, 1).await.unwrap();
        a.set(room, bob, 2).await.unwrap();
        b.set(room, bob, 1).await.unwrap();
        for (r, u) in &crowd {
            a.set(*r, *u, 1).await.unwrap();
        }
        // a's last beat, with a short ttl.
        assert!(a.heartbeat_was_known(Duration::from_millis(300)).await.unwrap());
        assert!(b.sweep_dead_nodes().await.unwrap().is_empty(), "a is still alive");

        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(a.sweep_dead_nodes().await.unwrap().is_empty(), "a never sweeps itself");
        assert!(a.is_online(room, ann).await.unwrap());

        // A third node sweeps at the same time.
        let c = RedisPresence::connect(&url(), &prefix, "node-c").await.unwrap();
        c.heartbeat(Duration::from_secs(30)).await.unwrap();
        let (first, second) = tokio::join!(b.sweep_dead_nodes(), c.sweep_dead_nodes());
        let (first, second) = (first.unwrap(), second.unwrap());
        let mut gone = first.clone();
        gone.extend(&second);
        let mut expected = crowd.clone();
        expected.push((room, ann));
        assert_eq!(gone.len(), expected.len(), "each pair reported once: {} + {}", first.len(), second.len());
        assert_eq!(gone.into_iter().collect::<HashSet<_>>(), expected.into_iter().collect());
        assert!(b.sweep_dead_nodes().await.unwrap().is_empty(), "nothing more to sweep");
        assert!(c.sweep_dead_nodes().await.unwrap().is_empty(), "nothing more to sweep");

        assert!(!b.is_online(room, ann).await.unwrap());
        assert_eq!(b.online(room, 10).await.unwrap(), (vec![bob], 1), "bob is still on b");
        assert_eq!(b.set(room, bob, 0).await.unwrap(), OnlineChange { before: true, after: false });
        let probe = Builder::from_config(Config::from_url(&url()).unwrap()).build().unwrap();
        probe.init().await.unwrap();
        let nodes: Vec<String> =
            probe.zrange(format!("{prefix}:nodes"), 0, -1, None, false, None, false).await.unwrap();
        assert_eq!(nodes.len(), 2, "a is forgotten: {nodes:?}");
        assert!(!nodes.contains(&"node-a".to_owned()));
        let left: i64 = probe.exists(format!("{prefix}:node:node-a:entries")).await.unwrap();
        assert_eq!(left, 0);
        probe.quit().await.unwrap();

        // Back from the dead: the beat says its entries are gone.
        assert!(!a.heartbeat_was_known(Duration::from_secs(30)).await.unwrap());
        assert!(a.heartbeat_was_known(Duration::from_secs(30)).await.unwrap());

        clean(&url(), &prefix).await;
    }

    #[tokio::test]
    async fn a_node_that_keeps_beating_is_not_swept() {
        let prefix = prefix();
        let (a, b) = pair(&prefix).await;
        let (room, ann) = (RoomId::generate(), UserId::generate());
        a.heartbeat(Duration::from_secs(1)).await.unwrap();
        a.set(room, ann, 1).await.unwrap();
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            a.heartbeat(Duration::from_secs(1)).await.unwrap();
            assert!(b.sweep_dead_nodes().await.unwrap().is_empty());
        }
        assert!(b.is_online(room, ann).await.unwrap());

        clean(&url(), &prefix).await;
    }

    #[tokio::test]
    async fn two_sweepers_removing_one_entry_report_it_once() {
        let prefix = prefix();
        let (a, b) = pair(&prefix).await;
        let (room, ann) = (RoomId::generate(), UserId::generate());
        a.set(room, ann, 1).await.unwrap();
        let (entries, entry) = (format!("{prefix}:node:node-a:entries"), format!("{room}|{ann}"));
        let (first, second) = tokio::join!(
            b.remove_entry(&entries, "node-a", &entry),
            b.remove_entry(&entries, "node-a", &entry)
        );
        assert_eq!([first.unwrap(), second.unwrap()].iter().filter(|gone| **gone).count(), 1);
        assert!(!b.remove_entry(&entries, "node-a", &entry).await.unwrap());
        assert!(!b.is_online(room, ann).await.unwrap());

        clean(&url(), &prefix).await;
    }

    #[tokio::test]
    async fn a_node_that_beats_again_keeps_its_entries_and_learns_it_lapsed() {
        let prefix = prefix();
        let (a, b) = pair(&prefix).await;
        let (room, ann) = (RoomId::generate(), UserId::generate());
        a.heartbeat(Duration::from_millis(100)).await.unwrap();
        a.set(room, ann, 1).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        // A sweeper saw a dead and is about to remove this entry, when a beats again.
        assert!(!a.heartbeat_was_known(Duration::from_secs(30)).await.unwrap(), "lapsed");
        let (entries, entry) = (format!("{prefix}:node:node-a:entries"), format!("{room}|{ann}"));
        assert!(!b.remove_entry(&entries, "node-a", &entry).await.unwrap());
        assert!(b.is_online(room, ann).await.unwrap(), "a's entry survives");
        assert!(b.sweep_dead_nodes().await.unwrap().is_empty());

        clean(&url(), &prefix).await;
    }

    #[tokio::test]
    async fn a_sweep_drops_an_entry_it_did_not_write_and_still_takes_the_dead_nodes_users_offline() {
        let prefix = prefix();
        let (a, b) = pair(&prefix).await;
        let (room, ann) = (RoomId::generate(), UserId::generate());
        a.heartbeat(Duration::from_millis(100)).await.unwrap();
        a.set(room, ann, 1).await.unwrap();
        let entries = format!("{prefix}:node:node-a:entries");
        let _: i64 = b.inner.client.sadd(&entries, "no separator").await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;

        assert_eq!(b.sweep_dead_nodes().await.unwrap(), [(room, ann)]);

        let left: i64 = b.inner.client.exists(&entries).await.unwrap();
        assert_eq!(left, 0, "the foreign entry is gone with the rest");
        assert!(b.sweep_dead_nodes().await.unwrap().is_empty());
        clean(&url(), &prefix).await;
    }

    #[tokio::test]
    async fn an_unreachable_redis_fails_calls_quickly_and_reports_it() {
        let started = Instant::now();
        let down = RedisPresence::connect("redis://127.0.0.1:1", &prefix(), "node").await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(3), "connect took {:?}", started.elapsed());
        assert_eq!(down.probe().name(), "redis");
        assert_eq!(down.probe().check().await, Err(ProbeError::Unreachable));

        let (room, user) = (RoomId::generate(), UserId::generate());
        let started = Instant::now();
        assert!(down.set(room, user, 1).await.is_err());
        assert!(down.is_online(room, user).await.is_err());
        assert!(down.online(room, 10).await.is_err());
        assert!(down.heartbeat(Duration::from_secs(30)).await.is_err());
        assert!(down.sweep_dead_nodes().await.is_err());
        let quota: chat_shared::ports::Quota = "1/1s".parse().unwrap();
        assert!(down.rate_limiter().acquire("key", quota).await.is_err());
        assert!(down.rate_limiter().release("key", quota).await.is_err());
        assert!(started.elapsed() < Duration::from_secs(3), "calls took {:?}", started.elapsed());
        down.close().await;
    }

    #[tokio::test]
    async fn a_malformed_url_is_an_error() {
        assert!(RedisPresence::connect("not a url", "p", "node").await.is_err());
        assert!(RedisPresence::connect("http://127.0.0.1:6379", "p", "node").await.is_err());
        assert!(RedisPresence::connect("redis-cluster://127.0.0.1:6379", "p", "node").await.is_err());
        assert!(RedisPresence::connect("redis://127.0.0.1:notaport", "p", "node").await.is_err());
    }

    #[tokio::test]
    async fn a_reachable_redis_is_ready() {
        let a = RedisPresence::connect(&url(), &prefix(), "node").await.unwrap();
        assert_eq!(a.probe().check().await, Ok(()));
    }

    /// Starts a private `redis-server` so that command counts are not mixed with other tests'.
    struct PrivateRedis {
        child: std::process::Child,
        url: String,
    }

    impl PrivateRedis {
        async fn start() -> Self {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            Self::start_on(port).await
        }

        async fn start_on(port: u16) -> Self {
            let child = std::process::Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("redis-server on the PATH");
            for _ in 0..100 {
                if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Self { child, url: format!("redis://127.0.0.1:{port}") }
        }
    }

    impl Drop for PrivateRedis {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    async fn wait_until(what: &str, mut ready: impl AsyncFnMut() -> bool) {
        let started = Instant::now();
        while !ready().await {
            assert!(started.elapsed() < Duration::from_secs(10), "{what} never happened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn the_client_connects_when_redis_comes_up_and_reconnects_after_a_restart() {
        if std::process::Command::new("redis-server").arg("--version").output().is_err() {
            eprintln!("skipped: no redis-server on the PATH");
            return;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let a = RedisPresence::connect(&format!("redis://127.0.0.1:{port}"), "p", "node-a").await.unwrap();
        let (room, ann) = (RoomId::generate(), UserId::generate());
        assert!(a.set(room, ann, 1).await.is_err(), "down at start");

        let redis = PrivateRedis::start_on(port).await;
        wait_until("the first connection", async || a.probe().check().await.is_ok()).await;
        assert!(!a.heartbeat_was_known(Duration::from_secs(30)).await.unwrap());
        assert_eq!(a.set(room, ann, 1).await.unwrap(), OnlineChange { before: false, after: true });

        drop(redis);
        wait_until("noticing the loss", async || a.probe().check().await.is_err()).await;
        let started = Instant::now();
        assert!(a.is_online(room, ann).await.is_err());
        assert!(started.elapsed() < Duration::from_millis(500), "failing took {:?}", started.elapsed());

        let _redis = PrivateRedis::start_on(port).await;
        wait_until("the reconnection", async || a.probe().check().await.is_ok()).await;
        assert!(!a.heartbeat_was_known(Duration::from_secs(30)).await.unwrap(), "Redis lost the node");
        assert_eq!(
            a.set(room, ann, 1).await.unwrap(),
            OnlineChange { before: false, after: true },
            "rewritten after the loss"
        );
        a.close().await;
    }

    /// Calls per command since the last reset, from `INFO commandstats` (which counts the
    /// commands scripts run, too), then resets.
    async fn command_counts(client: &Client) -> Vec<(String, u64)> {
        let info: String = client.custom(fred::cmd!("INFO"), vec!["commandstats"]).await.unwrap();
        let _: String = client.custom(fred::cmd!("CONFIG"), vec!["RESETSTAT"]).await.unwrap();
        let mut counts: Vec<(String, u64)> = info
            .lines()
            .filter_map(|line| {
                let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = rest.split(',').next()?.strip_prefix("calls=")?.parse().ok()?;
                (!name.starts_with("info") && !name.starts_with("config")).then(|| (name.to_owned(), calls))
            })
            .collect();
        counts.sort();
        counts
    }

    fn used_memory(info: &str) -> u64 {
        info.lines().find_map(|l| l.strip_prefix("used_memory:")).unwrap().trim().parse().unwrap()
    }

    /// Prints what presence costs in Redis commands and time, against a private Redis.
    /// Run with `cargo test -p chat-adapters redis::tests::measure -- --ignored --nocapture`.
    #[tokio::test]
    #[ignore = "prints measurements; starts its own redis-server"]
    async fn measure_the_cost_of_presence() {
        let redis = PrivateRedis::start().await;
        let prefix = prefix();
        let a = RedisPresence::connect(&redis.url, &prefix, "node-a").await.unwrap();
        let b = RedisPresence::connect(&redis.url, &prefix, "node-b").await.unwrap();
        let admin = Builder::from_config(Config::from_url(&redis.url).unwrap()).build().unwrap();
        admin.init().await.unwrap();
        // Load the scripts first, so the counts below are of the steady state.
        let (room, ann) = (RoomId::generate(), UserId::generate());
        a.set(room, ann, 1).await.unwrap();
        a.set(room, ann, 0).await.unwrap();
        a.online(room, 1).await.unwrap();
        a.heartbeat(Duration::from_secs(30)).await.unwrap();
        b.heartbeat(Duration::from_secs(30)).await.unwrap();
        b.sweep_dead_nodes().await.unwrap();
        a.inner.scripts.remove.load(&admin).await.unwrap();
        a.inner.scripts.lock.load(&admin).await.unwrap();
        a.inner.scripts.finish.load(&admin).await.unwrap();
        command_counts(&admin).await;

        a.set(room, ann, 1).await.unwrap();
        eprintln!("join (first connection):   {:?}", command_counts(&admin).await);
        b.set(room, ann, 1).await.unwrap();
        eprintln!("join (already online):     {:?}", command_counts(&admin).await);
        b.set(room, ann, 0).await.unwrap();
        eprintln!("leave (still online):      {:?}", command_counts(&admin).await);
        a.set(room, ann, 0).await.unwrap();
        eprintln!("leave (last connection):   {:?}", command_counts(&admin).await);
        a.is_online(room, ann).await.unwrap();
        eprintln!("is_online:                 {:?}", command_counts(&admin).await);
        a.online(room, 100).await.unwrap();
        eprintln!("online:                    {:?}", command_counts(&admin).await);
        a.heartbeat(Duration::from_secs(30)).await.unwrap();
        eprintln!("heartbeat:                 {:?}", command_counts(&admin).await);
        b.sweep_dead_nodes().await.unwrap();
        eprintln!("sweep, nobody dead:        {:?}", command_counts(&admin).await);

        // Timing: 10,000 joins from one task, then 10,000 from 50 tasks.
        let rooms: Vec<RoomId> = (0..1000).map(|_| RoomId::generate()).collect();
        let before =
            used_memory(&admin.custom::<String, _>(fred::cmd!("INFO"), vec!["memory"]).await.unwrap());
        let started = Instant::now();
        for i in 0..10_000 {
            a.set(rooms[i % rooms.len()], UserId::generate(), 1).await.unwrap();
        }
        let one = started.elapsed();
        let after =
            used_memory(&admin.custom::<String, _>(fred::cmd!("INFO"), vec!["memory"]).await.unwrap());
        let started = Instant::now();
        let tasks: Vec<_> = (0..50)
            .map(|t| {
                let (a, rooms) = (a.clone(), rooms.clone());
                tokio::spawn(async move {
                    for i in 0..200 {
                        a.set(rooms[(t * 200 + i) % rooms.len()], UserId::generate(), 1).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let fifty = started.elapsed();
        let started = Instant::now();
        for _ in 0..1000 {
            a.heartbeat(Duration::from_secs(30)).await.unwrap();
        }
        let beat = started.elapsed() / 1000;
        eprintln!(
            "10,000 set from 1 task: {one:?} ({:.0}/s, {:?} each); from 50 tasks: {fifty:?} ({:.0}/s); \
             heartbeat: {beat:?}; memory per entry: ~{} bytes",
            10_000.0 / one.as_secs_f64(),
            one / 10_000,
            10_000.0 / fifty.as_secs_f64(),
            (after - before) / 10_000,
        );

        // Sweep of a dead node with E = 20,000 entries.
        a.heartbeat(Duration::from_millis(1)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        command_counts(&admin).await;
        let started = Instant::now();
        let gone = b.sweep_dead_nodes().await.unwrap();
        let took = started.elapsed();
        let counts = command_counts(&admin).await;
        eprintln!("sweep of 20,000 entries: {took:?}, {} offline; {counts:?}", gone.len());
        assert_eq!(gone.len(), 20_000);
        admin.quit().await.unwrap();
    }
}
