//! `RateLimiter` in Redis, shared by every node: one key per limited subject,
//! `P:limit:{limit}:{subject}`, holding its theoretical arrival time (the generic cell rate
//! algorithm) in microseconds of Redis server time, so nodes whose clocks disagree still count
//! alike. A key expires when its subject is back to a full quota.

use std::time::Duration;

use async_trait::async_trait;
use chat_shared::ports::{Decision, Quota, RateLimiter, StoreError};
use fred::prelude::*;
use fred::types::scripts::Script;

/// Counts (ARGV[3] = 1) or gives back (-1) one attempt. KEYS: the subject's key.
/// ARGV: interval µs, period µs, 1 | -1. Returns 0 when allowed (or given back), else the µs
/// to wait.
const ACQUIRE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next = tat + interval * tonumber(ARGV[3])
if next - now > period then return math.max(1, next - now - period) end
if next <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%d', next), 'PX', math.ceil((next - now) / 1000))
end
return 0
";

/// Rate limits in Redis. Clones share the connection.
#[derive(Clone)]
pub struct RedisRateLimiter {
    client: Client,
    prefix: String,
    script: Script,
}

impl RedisRateLimiter {
    /// Limits under the deployment's key prefix, over a connected (or reconnecting) client.
    pub fn new(client: Client, prefix: &str) -> Self {
        Self { client, prefix: prefix.to_owned(), script: Script::from_lua(ACQUIRE) }
    }

    async fn run(&self, key: &str, quota: Quota, cost: i8) -> Result<i64, StoreError> {
        // While disconnected fred would queue the call until its timeout; the caller has a
        // local fallback and should reach it at once.
        if !self.client.is_connected() {
            return Err(failure(Error::new(ErrorKind::IO, "Redis is unreachable")));
        }
        let keys = vec![format!("{}:limit:{key}", self.prefix)];
        let args = vec![micros(quota.interval()), micros(quota.period()), cost.to_string()];
        self.script.evalsha_with_reload(&self.client, keys, args).await.map_err(failure)
    }
}

fn micros(duration: Duration) -> String {
    duration.as_micros().to_string()
}

fn failure(err: Error) -> StoreError {
    metrics::counter!("chat_rate_limit_redis_errors_total").increment(1);
    StoreError::unavailable(err)
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn acquire(&self, key: &str, quota: Quota) -> Result<Decision, StoreError> {
        let wait = self.run(key, quota, 1).await?;
        Ok(match u64::try_from(wait) {
            Ok(0) | Err(_) => Decision::Allowed,
            Ok(micros) => Decision::Limited { retry_after: Duration::from_micros(micros) },
        })
    }

    async fn release(&self, key: &str, quota: Quota) -> Result<(), StoreError> {
        self.run(key, quota, -1).await.map(drop)
    }
}
