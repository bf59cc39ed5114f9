//! The `RevokedLogins` contract: Redis in a cluster, memory when embedded.

use std::sync::Arc;
use std::time::Duration;

use chat_adapters::redis::RedisPresence;
use chat_adapters::redis_logins::RedisRevokedLogins;
use chat_shared::domain::LoginId;
use chat_shared::memory::MemoryRevokedLogins;
use chat_shared::ports::{RevokedLogins, SystemClock};
use chat_tests::{TestStream, redis_url};

use super::now;

contract_tests!(Revoked [redis, memory] [
    a_revoked_login_is_known_until_its_time_and_others_are_not,
]);

pub struct Revoked {
    store: Arc<dyn RevokedLogins>,
    _keys: Option<TestStream>,
}

impl Revoked {
    async fn redis() -> Self {
        let keys = TestStream::new();
        let presence = RedisPresence::connect(&redis_url(), &keys.prefix, "node-a").await.expect("Redis");
        Self { store: Arc::new(RedisRevokedLogins::sharing(&presence)), _keys: Some(keys) }
    }

    async fn memory() -> Self {
        Self { store: Arc::new(MemoryRevokedLogins::new(Arc::new(SystemClock))), _keys: None }
    }
}

async fn a_revoked_login_is_known_until_its_time_and_others_are_not(r: &Revoked) {
    let (short, long, other) = (LoginId::generate(), LoginId::generate(), LoginId::generate());
    r.store.revoke(short, now() + chrono::Duration::milliseconds(300)).await.unwrap();
    r.store.revoke(long, now() + chrono::Duration::minutes(15)).await.unwrap();
    assert!(r.store.is_revoked(short).await.unwrap());
    assert!(r.store.is_revoked(long).await.unwrap());
    assert!(!r.store.is_revoked(other).await.unwrap());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!r.store.is_revoked(short).await.unwrap(), "forgotten once its tokens expired");
    assert!(r.store.is_revoked(long).await.unwrap());
}
