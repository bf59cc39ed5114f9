//! The `ApiKeyStore` contract: keys found by the hash of their secret, listed newest first,
//! revoked once.

use chat_shared::domain::{ApiKey, ApiKeyId, ApiKeyName, ApiKeySecret, Scope};
use chat_shared::ports::KeyRevocation;

use super::{Stores, now};

contract_tests!(Stores [postgres, sqlite, memory] [
    a_key_is_found_by_its_secrets_hash_and_reads_back_exactly,
    keys_list_newest_first_and_are_revoked_once,
]);

fn new_key(name: &str, scopes: Vec<Scope>) -> ApiKey {
    ApiKey {
        id: ApiKeyId::generate(),
        name: ApiKeyName::parse(name).unwrap(),
        scopes,
        created_at: now(),
        created_by: None,
        revoked_at: None,
    }
}

async fn a_key_is_found_by_its_secrets_hash_and_reads_back_exactly(stores: &Stores) {
    let admin = stores.user("root").await;
    let key = ApiKey {
        created_by: Some(admin),
        ..new_key("billing ünïcode", vec![Scope::MessagesPublish, Scope::UsersRead])
    };
    let secret = ApiKeySecret::generate();
    stores.api_keys.insert(&key, &secret.hash()).await.unwrap();
    assert_eq!(stores.api_keys.by_secret(&secret.hash()).await.unwrap(), Some(key));
    let other = ApiKeySecret::generate();
    assert_eq!(stores.api_keys.by_secret(&other.hash()).await.unwrap(), None);
}

async fn keys_list_newest_first_and_are_revoked_once(stores: &Stores) {
    let (first, second) =
        (new_key("first", vec![Scope::RoomsWrite]), new_key("second", vec![Scope::UsersRead]));
    stores.api_keys.insert(&first, &ApiKeySecret::generate().hash()).await.unwrap();
    stores.api_keys.insert(&second, &ApiKeySecret::generate().hash()).await.unwrap();
    assert_eq!(stores.api_keys.all().await.unwrap(), [second.clone(), first.clone()]);

    let at = now();
    let revoked = ApiKey { revoked_at: Some(at), ..first.clone() };
    let outcome = stores.api_keys.revoke(first.id, at).await.unwrap();
    assert_eq!(outcome, Some(KeyRevocation::Revoked(revoked.clone())));
    let later = at + chrono::Duration::seconds(5);
    let again = stores.api_keys.revoke(first.id, later).await.unwrap();
    assert_eq!(again, Some(KeyRevocation::AlreadyRevoked(revoked.clone())), "the first revocation stands");
    assert_eq!(stores.api_keys.revoke(ApiKeyId::generate(), at).await.unwrap(), None);
    assert_eq!(stores.api_keys.all().await.unwrap(), [second, revoked]);
}
