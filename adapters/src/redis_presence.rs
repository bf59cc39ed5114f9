//! Presence in Redis (fred). Keys, all under the deployment's prefix:
//! - `P:presence:{room}` hash: user → 1, for users online in the room on some live node;
//! - `P:presence:{room}:user` hash: node → that node's connection count for the user;
//! - `P:node:node:entries` set of `room|user` pairs the node has entries for;
//! - `P:nodes` sorted set: node → heartbeat expiry (Redis server time, ms).
//!
//! A node's heartbeat refreshes its expiry; any node sweeps the entries of nodes whose
//! expiry passed. Updates run as Lua scripts, so each is one atomic round trip.

use std::time::Duration;

use async_trait::async_trait;
use chat_shared::domain::{RoomId, UserId};
use chat_shared::ports::{PresenceError, PresenceStore, Probe};
use fred::prelude::*;
use fred::types::scripts::Script;

/// Sets one node's count for a user in a room; returns {was online, is online}.
const SET: &str = r"
local was = redis.call('HEXISTS', KEYS[1], ARGV[1])
if tonumber(ARGV[3]) > 0 then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
  redis.call('HSET', KEYS[1], ARGV[1], 1)
  redis.call('SADD', KEYS[3], ARGV[4])
else
  redis.call('HDEL', KEYS[2], ARGV[2])
  redis.call('SREM', KEYS[3], ARGV[4])
  if redis.call('HLEN', KEYS[2]) == 0 then
    redis.call('HDEL', KEYS[1], ARGV[1])
  end
end
return {was, redis.call('HEXISTS', KEYS[1], ARGV[1])}
";

/// Removes a dead node's count for a user in a room; 1 when the user is offline as a result.
const REMOVE: &str = r"
redis.call('HDEL', KEYS[2], ARGV[2])
if redis.call('HLEN', KEYS[2]) == 0 and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
";

/// Marks a node alive until server time + ttl.
const HEARTBEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return now
";

/// Nodes whose expiry passed, by server time.
const EXPIRED: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
";

/// Entries swept per round trip, so a node with many entries never blocks Redis for long.
const SWEEP_CHUNK: usize = 200;

#[derive(Clone)]
pub struct RedisPresence {
    client: Client,
    prefix: String,
    node: String,
    set: Script,
    remove: Script,
    heartbeat: Script,
    expired: Script,
}

fn error(err: Error) -> PresenceError {
    metrics::counter!("chat_presence_redis_errors_total").increment(1);
    PresenceError::new(err)
}

impl RedisPresence {
    /// Connects for `node_id`. Redis being down is not an error: the client keeps reconnecting
    /// by itself and calls fail within two seconds meanwhile. A malformed URL is an error.
    pub async fn connect(url: &str, prefix: &str, node_id: &str) -> Result<Self, PresenceError> {
        let mut config = Config::from_url(url).map_err(PresenceError::new)?;
        config.fail_fast = false;
        let client = Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = Duration::from_secs(2);
                c.internal_command_timeout = Duration::from_secs(2);
                c.max_command_attempts = 1;
            })
            .with_performance_config(|p| p.default_command_timeout = Duration::from_secs(2))
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .build()
            .map_err(PresenceError::new)?;
        client.connect();
        if tokio::time::timeout(Duration::from_secs(2), client.wait_for_connect()).await.is_err() {
            tracing::warn!("Redis is unreachable; presence is degraded until it returns");
        }
        metrics::counter!("chat_presence_redis_errors_total").increment(0);
        Ok(Self {
            client,
            prefix: prefix.to_owned(),
            node: node_id.to_owned(),
            set: Script::from_lua(SET),
            remove: Script::from_lua(REMOVE),
            heartbeat: Script::from_lua(HEARTBEAT),
            expired: Script::from_lua(EXPIRED),
        })
    }

    pub fn probe(&self) -> RedisProbe {
        RedisProbe(self.client.clone())
    }

    fn room_key(&self, room: &str) -> String {
        format!("{}:presence:{{{room}}}", self.prefix)
    }

    fn user_key(&self, room: &str, user: &str) -> String {
        format!("{}:presence:{{{room}}}:{user}", self.prefix)
    }

    fn entries_key(&self, node: &str) -> String {
        format!("{}:node:{node}:entries", self.prefix)
    }

    fn nodes_key(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    /// Sweeps one dead node, unless another sweeper holds it.
    async fn sweep(&self, dead: &str, gone: &mut Vec<(RoomId, UserId)>) -> Result<(), PresenceError> {
        let lock = format!("{}:sweep:{dead}", self.prefix);
        let acquired: Option<String> = self
            .client
            .set(&lock, "1", Some(Expiration::PX(10_000)), Some(SetOptions::NX), false)
            .await
            .map_err(error)?;
        if acquired.is_none() {
            return Ok(());
        }
        let entries_key = self.entries_key(dead);
        loop {
            let entries: Vec<String> =
                self.client.spop(&entries_key, Some(SWEEP_CHUNK)).await.map_err(error)?;
            if entries.is_empty() {
                break;
            }
            for entry in entries {
                let Some((room, user)) = entry.split_once('|') else { continue };
                let keys = vec![self.room_key(room), self.user_key(room, user)];
                let offline: i64 = self
                    .remove
                    .evalsha_with_reload(&self.client, keys, vec![user.to_owned(), dead.to_owned()])
                    .await
                    .map_err(error)?;
                if offline == 1
                    && let (Ok(room), Ok(user)) = (room.parse(), user.parse())
                {
                    gone.push((room, user));
                }
            }
        }
        let _: i64 = self.client.zrem(self.nodes_key(), dead).await.map_err(error)?;
        let _: i64 = self.client.del(&lock).await.map_err(error)?;
        Ok(())
    }
}

#[async_trait]
impl PresenceStore for RedisPresence {
    async fn set(&self, room: RoomId, user: UserId, connections: u32) -> Result<(bool, bool), PresenceError> {
        let (room, user) = (room.to_string(), user.to_string());
        let keys = vec![self.room_key(&room), self.user_key(&room, &user), self.entries_key(&self.node)];
        let args = vec![user.clone(), self.node.clone(), connections.to_string(), format!("{room}|{user}")];
        let (was, is): (i64, i64) =
            self.set.evalsha_with_reload(&self.client, keys, args).await.map_err(error)?;
        metrics::counter!("chat_presence_updates_total").increment(1);
        Ok((was == 1, is == 1))
    }

    async fn is_online(&self, room: RoomId, user: UserId) -> Result<bool, PresenceError> {
        self.client.hexists(self.room_key(&room.to_string()), user.to_string()).await.map_err(error)
    }

    async fn online(&self, room: RoomId, limit: usize) -> Result<(Vec<UserId>, u64), PresenceError> {
        let key = self.room_key(&room.to_string());
        let count: u64 = self.client.hlen(&key).await.map_err(error)?;
        if limit == 0 || count == 0 {
            return Ok((Vec::new(), count));
        }
        let users: Vec<String> = if count as usize <= limit {
            self.client.hkeys(&key).await.map_err(error)?
        } else {
            self.client.hrandfield(&key, Some((limit as i64, false))).await.map_err(error)?
        };
        Ok((users.iter().filter_map(|u| u.parse().ok()).collect(), count))
    }

    async fn heartbeat(&self, ttl: Duration) -> Result<(), PresenceError> {
        let ttl_ms = ttl.as_millis().to_string();
        let _: i64 = self
            .heartbeat
            .evalsha_with_reload(&self.client, vec![self.nodes_key()], vec![self.node.clone(), ttl_ms])
            .await
            .map_err(error)?;
        Ok(())
    }

    async fn sweep_dead_nodes(&self) -> Result<Vec<(RoomId, UserId)>, PresenceError> {
        let dead: Vec<String> = self
            .expired
            .evalsha_with_reload(&self.client, vec![self.nodes_key()], Vec::<String>::new())
            .await
            .map_err(error)?;
        let mut gone = Vec::new();
        for node in dead.iter().filter(|n| **n != self.node) {
            self.sweep(node, &mut gone).await?;
        }
        Ok(gone)
    }
}

/// `/readyz` check; Redis is optional, so a failure marks the node degraded, not unready.
pub struct RedisProbe(Client);

#[async_trait]
impl Probe for RedisProbe {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn check(&self) -> Result<(), String> {
        if self.0.is_connected() { Ok(()) } else { Err("unreachable (presence degraded)".into()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> String {
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
    }

    async fn pair() -> (RedisPresence, RedisPresence) {
        let prefix = format!("t{}", uuid::Uuid::new_v4().simple());
        let a = RedisPresence::connect(&url(), &prefix, "node-a").await.unwrap();
        let b = RedisPresence::connect(&url(), &prefix, "node-b").await.unwrap();
        (a, b)
    }

    #[tokio::test]
    async fn a_user_is_online_while_any_node_holds_a_connection() {
        let (a, b) = pair().await;
        let (room, ann) = (RoomId::generate(), UserId::generate());
        assert_eq!(a.set(room, ann, 1).await.unwrap(), (false, true));
        assert_eq!(b.set(room, ann, 2).await.unwrap(), (true, true));
        assert_eq!(a.set(room, ann, 0).await.unwrap(), (true, true));
        assert_eq!(a.online(room, 10).await.unwrap(), (vec![ann], 1));
        assert_eq!(b.set(room, ann, 0).await.unwrap(), (true, false));
        assert!(!a.is_online(room, ann).await.unwrap());
        assert_eq!(a.online(room, 10).await.unwrap().1, 0);
    }

    #[tokio::test]
    async fn the_online_list_honours_its_limit_and_counts_everyone() {
        let (a, _) = pair().await;
        let room = RoomId::generate();
        for _ in 0..5 {
            a.set(room, UserId::generate(), 1).await.unwrap();
        }
        let (some, count) = a.online(room, 2).await.unwrap();
        assert_eq!((some.len(), count), (2, 5));
        assert_eq!(a.online(room, 0).await.unwrap(), (vec![], 5));
    }

    #[tokio::test]
    async fn a_node_that_stops_beating_is_swept_once_by_the_living() {
        let (a, b) = pair().await;
        let (room, ann, bob) = (RoomId::generate(), UserId::generate(), UserId::generate());
        a.heartbeat(Duration::from_millis(200)).await.unwrap();
        b.heartbeat(Duration::from_secs(30)).await.unwrap();
        a.set(room, ann, 1).await.unwrap();
        a.set(room, bob, 1).await.unwrap();
        b.set(room, bob, 1).await.unwrap();
        assert!(b.sweep_dead_nodes().await.unwrap().is_empty(), "a is alive");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(a.sweep_dead_nodes().await.unwrap().is_empty(), "a never sweeps itself");
        let (first, second) = tokio::join!(b.sweep_dead_nodes(), b.sweep_dead_nodes());
        let mut gone = first.unwrap();
        gone.extend(second.unwrap());
        assert_eq!(gone, vec![(room, ann)], "bob is still on b");
        assert_eq!(b.online(room, 10).await.unwrap(), (vec![bob], 1));
    }

    #[tokio::test]
    async fn an_unreachable_redis_fails_calls_quickly_and_reports_it() {
        let started = std::time::Instant::now();
        let down = RedisPresence::connect("redis://127.0.0.1:1", "t-down", "node").await.unwrap();
        assert!(down.set(RoomId::generate(), UserId::generate(), 1).await.is_err());
        assert!(started.elapsed() < Duration::from_secs(6), "took {:?}", started.elapsed());
        assert!(down.probe().check().await.is_err());
    }
}
