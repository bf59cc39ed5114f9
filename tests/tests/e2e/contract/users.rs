//! The `UserStore` contract.

use chat_shared::domain::{DisplayName, PasswordHash, UserId};
use chat_shared::ports::InsertUserError;

use super::{Stores, new_user};

contract_tests!(Stores [postgres, sqlite, memory] [
    a_stored_user_is_found_by_id_and_by_username_in_any_case,
    a_username_is_taken_whatever_its_case,
    of_concurrent_inserts_of_one_username_exactly_one_succeeds,
    a_display_name_is_updated_for_existing_users_only,
    a_password_hash_is_read_and_replaced_for_existing_users_only,
]);

async fn a_stored_user_is_found_by_id_and_by_username_in_any_case(stores: &Stores) {
    let ann = new_user("Ann.Smith");
    let hash = PasswordHash::new("$argon2id$hash".into());
    stores.users.insert(&ann, &hash).await.unwrap();
    assert_eq!(stores.users.by_id(ann.id).await.unwrap(), Some(ann.clone()));
    let (found, found_hash) = stores.users.credentials("ann.SMITH").await.unwrap().unwrap();
    assert_eq!((found, found_hash.as_str()), (ann, hash.as_str()));
    assert_eq!(stores.users.by_id(UserId::generate()).await.unwrap(), None);
    assert!(stores.users.credentials("nobody").await.unwrap().is_none());
}

async fn a_username_is_taken_whatever_its_case(stores: &Stores) {
    stores.user("ann").await;
    let hash = PasswordHash::new("h".into());
    let again = stores.users.insert(&new_user("ANN"), &hash).await;
    assert!(matches!(again, Err(InsertUserError::UsernameTaken)), "{again:?}");
    stores.users.insert(&new_user("anne"), &hash).await.unwrap();
}

async fn of_concurrent_inserts_of_one_username_exactly_one_succeeds(stores: &Stores) {
    let hash = PasswordHash::new("h".into());
    let attempts: Vec<_> = (0..8).map(|i| new_user(if i % 2 == 0 { "bob" } else { "BOB" })).collect();
    let results = futures::future::join_all(attempts.iter().map(|u| stores.users.insert(u, &hash))).await;
    let succeeded = results.iter().filter(|r| r.is_ok()).count();
    let taken = results.iter().filter(|r| matches!(r, Err(InsertUserError::UsernameTaken))).count();
    assert_eq!((succeeded, taken), (1, 7), "{results:?}");
}

async fn a_display_name_is_updated_for_existing_users_only(stores: &Stores) {
    let ann = stores.user("ann").await;
    let name = DisplayName::parse("Ann S.").unwrap();
    let updated = stores.users.update_display_name(ann, &name).await.unwrap().unwrap();
    assert_eq!(updated.display_name, name);
    assert_eq!(stores.users.by_id(ann).await.unwrap().unwrap().display_name, name);
    assert!(stores.users.update_display_name(UserId::generate(), &name).await.unwrap().is_none());
}

async fn a_password_hash_is_read_and_replaced_for_existing_users_only(stores: &Stores) {
    let (ann, bob) = (stores.user("ann").await, stores.user("bob").await);
    assert_eq!(stores.users.password_hash(ann).await.unwrap().unwrap().as_str(), "hash of ann");
    let new = PasswordHash::new("$argon2id$new".into());
    assert!(stores.users.set_password_hash(ann, &new).await.unwrap());
    assert_eq!(stores.users.password_hash(ann).await.unwrap().unwrap().as_str(), new.as_str());
    let (_, by_name) = stores.users.credentials("ANN").await.unwrap().unwrap();
    assert_eq!(by_name.as_str(), new.as_str());
    assert_eq!(stores.users.password_hash(bob).await.unwrap().unwrap().as_str(), "hash of bob");
    assert!(stores.users.password_hash(UserId::generate()).await.unwrap().is_none());
    assert!(!stores.users.set_password_hash(UserId::generate(), &new).await.unwrap());
}
