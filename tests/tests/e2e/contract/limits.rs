//! The `RateLimiter` contract: Redis in a cluster, memory when embedded (and on a cluster node
//! while Redis is unreachable).

use std::sync::Arc;
use std::time::Duration;

use chat_adapters::redis::RedisPresence;
use chat_shared::memory::MemoryRateLimiter;
use chat_shared::ports::{Decision, Quota, RateLimiter, SystemClock};
use chat_tests::{TestStream, redis_url};

contract_tests!(Limiter [redis, memory] [
    a_burst_of_the_quota_is_allowed_then_the_wait_is_named,
    keys_count_apart,
    a_release_gives_one_attempt_back_and_never_more_than_the_quota,
    the_quota_refills_one_interval_at_a_time,
    of_concurrent_attempts_exactly_the_quota_is_allowed,
]);

pub struct Limiter {
    limiter: Arc<dyn RateLimiter>,
    _keys: Option<TestStream>,
}

impl Limiter {
    async fn redis() -> Self {
        let keys = TestStream::new();
        let redis = RedisPresence::connect(&redis_url(), &keys.prefix, "node-a").await.expect("Redis");
        Self { limiter: Arc::new(redis.rate_limiter()), _keys: Some(keys) }
    }

    async fn memory() -> Self {
        Self { limiter: Arc::new(MemoryRateLimiter::new(Arc::new(SystemClock))), _keys: None }
    }

    async fn allowed(&self, key: &str, quota: Quota) -> bool {
        self.limiter.acquire(key, quota).await.unwrap() == Decision::Allowed
    }

    async fn wait(&self, key: &str, quota: Quota) -> Option<Duration> {
        match self.limiter.acquire(key, quota).await.unwrap() {
            Decision::Allowed => None,
            Decision::Limited { retry_after } => Some(retry_after),
        }
    }
}

fn quota(text: &str) -> Quota {
    text.parse().unwrap()
}

async fn a_burst_of_the_quota_is_allowed_then_the_wait_is_named(l: &Limiter) {
    let hourly = quota("3/1h");
    for _ in 0..3 {
        assert!(l.allowed("burst", hourly).await);
    }
    let wait = l.wait("burst", hourly).await.expect("the fourth is refused");
    // One interval (20 minutes) minus the moments the three took.
    assert!(wait <= Duration::from_secs(1200) && wait > Duration::from_secs(1190), "{wait:?}");
    let again = l.wait("burst", hourly).await.expect("refused attempts are not counted");
    assert!(again <= wait, "{again:?} after {wait:?}");
}

async fn keys_count_apart(l: &Limiter) {
    let once = quota("1/1h");
    assert!(l.allowed("ann", once).await);
    assert!(!l.allowed("ann", once).await);
    assert!(l.allowed("bob", once).await);
}

async fn a_release_gives_one_attempt_back_and_never_more_than_the_quota(l: &Limiter) {
    let twice = quota("2/1h");
    l.limiter.release("fresh", twice).await.unwrap();
    l.limiter.release("fresh", twice).await.unwrap();
    assert!(l.allowed("fresh", twice).await);
    assert!(l.allowed("fresh", twice).await);
    assert!(!l.allowed("fresh", twice).await, "releasing an unused key banks nothing");
    l.limiter.release("fresh", twice).await.unwrap();
    assert!(l.allowed("fresh", twice).await);
    assert!(!l.allowed("fresh", twice).await);
}

async fn the_quota_refills_one_interval_at_a_time(l: &Limiter) {
    let fast = quota("2/400ms");
    assert!(l.allowed("refill", fast).await);
    assert!(l.allowed("refill", fast).await);
    let wait = l.wait("refill", fast).await.expect("spent");
    assert!(wait <= Duration::from_millis(200), "{wait:?}");
    // The wait it named is the event: after it, exactly one more attempt.
    tokio::time::sleep(wait + Duration::from_millis(5)).await;
    assert!(l.allowed("refill", fast).await);
    assert!(!l.allowed("refill", fast).await);
}

async fn of_concurrent_attempts_exactly_the_quota_is_allowed(l: &Limiter) {
    let ten = quota("10/1h");
    let attempts = (0..50).map(|_| {
        let limiter = l.limiter.clone();
        tokio::spawn(async move { limiter.acquire("race", ten).await.unwrap() == Decision::Allowed })
    });
    let allowed =
        futures::future::join_all(attempts).await.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(allowed, 10);
}
