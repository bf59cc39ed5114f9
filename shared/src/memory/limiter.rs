use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ports::{Clock, Decision, Quota, RateLimiter, StoreError};

/// `RateLimiter` in this process: the embedded mode's, and a cluster node's while Redis is
/// unreachable. The generic cell rate algorithm keeps one instant per key, the theoretical
/// arrival time (TAT): a key is allowed an attempt while its TAT, moved one interval on, stays
/// within one period of now.
pub struct MemoryRateLimiter {
    clock: Arc<dyn Clock>,
    state: Mutex<Keys>,
}

#[derive(Default)]
struct Keys {
    tat: HashMap<String, DateTime<Utc>>,
    /// The map's size after the last sweep of spent keys; the next sweep waits until it
    /// doubles, so sweeping costs O(1) per attempt.
    swept_at_len: usize,
}

/// Keys kept before sweeping starts at all.
const MIN_SWEEP_LEN: usize = 1024;

impl MemoryRateLimiter {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, state: Mutex::new(Keys::default()) }
    }

    /// Keys currently remembered.
    pub fn len(&self) -> usize {
        self.lock().tat.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Keys {
    /// Forgets keys whose TAT has passed: they are back to a full quota, as if never seen.
    fn sweep(&mut self, now: DateTime<Utc>) {
        if self.tat.len() < MIN_SWEEP_LEN.max(2 * self.swept_at_len) {
            return;
        }
        self.tat.retain(|_, tat| *tat > now);
        self.swept_at_len = self.tat.len();
    }
}

fn chrono(duration: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn acquire(&self, key: &str, quota: Quota) -> Result<Decision, StoreError> {
        let now = self.clock.now();
        let mut keys = self.lock();
        keys.sweep(now);
        let tat = keys.tat.get(key).copied().filter(|tat| *tat > now).unwrap_or(now);
        let next = tat + chrono(quota.interval());
        let ahead = next - now;
        if ahead > chrono(quota.period()) {
            let wait = (ahead - chrono(quota.period())).to_std().unwrap_or_default();
            return Ok(Decision::Limited { retry_after: wait });
        }
        keys.tat.insert(key.to_owned(), next);
        Ok(Decision::Allowed)
    }

    async fn release(&self, key: &str, quota: Quota) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut keys = self.lock();
        if let Some(tat) = keys.tat.get_mut(key) {
            *tat -= chrono(quota.interval());
            if *tat <= now {
                keys.tat.remove(key);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone;

    use super::*;
    use crate::memory::ManualClock;

    fn limiter() -> (Arc<ManualClock>, MemoryRateLimiter) {
        let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()));
        (clock.clone(), MemoryRateLimiter::new(clock))
    }

    async fn allowed(limiter: &MemoryRateLimiter, key: &str, quota: Quota) -> bool {
        limiter.acquire(key, quota).await.unwrap() == Decision::Allowed
    }

    #[tokio::test]
    async fn sweeping_forgets_only_the_keys_back_to_a_full_quota() {
        let (clock, limiter) = limiter();
        let quota: Quota = "1/1m".parse().unwrap();
        for i in 0..MIN_SWEEP_LEN {
            assert!(allowed(&limiter, &format!("old-{i}"), quota).await);
        }
        clock.advance(chrono::Duration::minutes(2));
        assert!(allowed(&limiter, "new", quota).await);
        assert_eq!(limiter.len(), 1, "the spent keys are swept, the fresh one kept");
        assert!(!allowed(&limiter, "new", quota).await);
    }

    #[tokio::test]
    async fn a_release_of_a_key_never_seen_does_nothing() {
        let (_, limiter) = limiter();
        let quota: Quota = "2/1s".parse().unwrap();
        limiter.release("nobody", quota).await.unwrap();
        assert!(limiter.is_empty());
        assert!(allowed(&limiter, "nobody", quota).await);
        assert!(allowed(&limiter, "nobody", quota).await);
        assert!(!allowed(&limiter, "nobody", quota).await);
        assert_eq!(
            limiter.acquire("nobody", quota).await.unwrap(),
            Decision::Limited { retry_after: Duration::from_millis(500) }
        );
    }
}
