//! The `RefreshTokenStore` contract.

use chat_shared::domain::{RefreshToken, RefreshTokenRecord, UserId};
use uuid::Uuid;

use super::{Stores, now};

contract_tests!(Stores [postgres, sqlite, memory] [
    a_token_is_found_by_its_hash_exactly_as_stored,
    a_token_is_consumed_once_even_by_concurrent_calls,
    revoking_a_family_revokes_its_tokens_only_and_a_revoked_token_cannot_be_consumed,
    revoking_a_users_other_families_spares_the_kept_one_other_users_and_dead_tokens,
]);

fn record(user: UserId, family_id: Uuid) -> RefreshTokenRecord {
    let issued_at = now();
    RefreshTokenRecord {
        id: Uuid::new_v4(),
        user_id: user,
        family_id,
        token_hash: RefreshToken::generate().hash(),
        issued_at,
        expires_at: issued_at + chrono::Duration::days(30),
        used_at: None,
        revoked_at: None,
    }
}

async fn a_token_is_found_by_its_hash_exactly_as_stored(stores: &Stores) {
    let ann = stores.user("ann").await;
    let token = record(ann, Uuid::new_v4());
    stores.tokens.insert(&token).await.unwrap();
    assert_eq!(stores.tokens.find(&token.token_hash).await.unwrap(), Some(token));
    assert!(stores.tokens.find(&RefreshToken::generate().hash()).await.unwrap().is_none());
}

async fn a_token_is_consumed_once_even_by_concurrent_calls(stores: &Stores) {
    let ann = stores.user("ann").await;
    let token = record(ann, Uuid::new_v4());
    stores.tokens.insert(&token).await.unwrap();
    let at = now();
    let results = futures::future::join_all((0..8).map(|_| stores.tokens.consume(token.id, at))).await;
    assert_eq!(results.into_iter().filter(|r| *r.as_ref().unwrap()).count(), 1);
    assert_eq!(stores.tokens.find(&token.token_hash).await.unwrap().unwrap().used_at, Some(at));
}

async fn revoking_a_family_revokes_its_tokens_only_and_a_revoked_token_cannot_be_consumed(stores: &Stores) {
    let ann = stores.user("ann").await;
    let family = Uuid::new_v4();
    let (first, second, other) = (record(ann, family), record(ann, family), record(ann, Uuid::new_v4()));
    for token in [&first, &second, &other] {
        stores.tokens.insert(token).await.unwrap();
    }
    let at = now();
    stores.tokens.revoke_family(family, at).await.unwrap();
    for token in [&first, &second] {
        assert_eq!(stores.tokens.find(&token.token_hash).await.unwrap().unwrap().revoked_at, Some(at));
    }
    assert_eq!(stores.tokens.find(&other.token_hash).await.unwrap().unwrap().revoked_at, None);
    assert!(!stores.tokens.consume(first.id, now()).await.unwrap());
    assert!(stores.tokens.consume(other.id, now()).await.unwrap());
}

async fn revoking_a_users_other_families_spares_the_kept_one_other_users_and_dead_tokens(stores: &Stores) {
    let (ann, bob) = (stores.user("ann").await, stores.user("bob").await);
    let (kept, first, second) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let tokens = [
        record(ann, kept),
        record(ann, first),
        record(ann, first),
        record(ann, second),
        record(bob, Uuid::new_v4()),
    ];
    let expired = RefreshTokenRecord {
        expires_at: now() - chrono::Duration::seconds(1),
        ..record(ann, Uuid::new_v4())
    };
    for token in tokens.iter().chain([&expired]) {
        stores.tokens.insert(token).await.unwrap();
    }
    let at = now();
    let mut revoked = stores.tokens.revoke_other_families(ann, Some(kept), at).await.unwrap();
    revoked.sort();
    let mut expected = vec![first, second];
    expected.sort();
    assert_eq!(revoked, expected, "each family once; not the kept one, nor the expired token's");
    let revoked_at = |token: &RefreshTokenRecord| {
        let hash = token.token_hash;
        async move { stores.tokens.find(&hash).await.unwrap().unwrap().revoked_at }
    };
    assert_eq!(revoked_at(&tokens[0]).await, None);
    for token in &tokens[1..4] {
        assert_eq!(revoked_at(token).await, Some(at));
    }
    assert_eq!(revoked_at(&tokens[4]).await, None, "another user's");
    assert_eq!(revoked_at(&expired).await, None);
    assert!(stores.tokens.revoke_other_families(ann, Some(kept), now()).await.unwrap().is_empty());
    assert_eq!(stores.tokens.revoke_other_families(ann, None, now()).await.unwrap(), vec![kept]);
}
