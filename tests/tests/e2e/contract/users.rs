//! The `UserStore` contract.

use chat_shared::domain::{
    AuditAction, AuditEntry, DirectoryCursor, DisplayName, PasswordHash, SearchPrefix, UserId, UserRole,
    Username,
};
use chat_shared::ports::{DirectoryQuery, InsertUserError};

use super::{Stores, new_user};

contract_tests!(Stores [postgres, sqlite, memory] [
    a_stored_user_is_found_by_id_and_by_username_in_any_case,
    a_username_is_taken_whatever_its_case,
    of_concurrent_inserts_of_one_username_exactly_one_succeeds,
    a_display_name_is_updated_for_existing_users_only,
    a_password_hash_is_read_and_replaced_for_existing_users_only,
    a_search_matches_the_start_of_usernames_and_display_names_in_any_case_literally,
    a_search_pages_by_lower_cased_username_after_the_cursor,
    usernames_are_looked_up_many_at_once_whatever_their_case,
    a_role_is_set_by_username_in_any_case_and_kept,
    the_audit_log_pages_newest_first_before_an_entry,
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

fn search(prefix: &str, after: Option<&str>, limit: usize) -> DirectoryQuery {
    DirectoryQuery {
        prefix: SearchPrefix::parse(prefix).unwrap(),
        after: after.map(|a| DirectoryCursor::parse(a).unwrap()),
        limit,
        include_disabled: false,
    }
}

async fn found(stores: &Stores, query: DirectoryQuery) -> Vec<String> {
    stores.users.search(&query).await.unwrap().into_iter().map(|u| u.username.as_str().to_owned()).collect()
}

async fn a_search_matches_the_start_of_usernames_and_display_names_in_any_case_literally(stores: &Stores) {
    stores.user("Ann_Lee").await;
    let bob = stores.user("bob").await;
    let cid = stores.user("cid").await;
    stores.users.update_display_name(bob, &DisplayName::parse("ANNA 100%").unwrap()).await.unwrap();
    stores.users.update_display_name(cid, &DisplayName::parse(r"Zoë \ Éa_").unwrap()).await.unwrap();
    stores.user("annex").await;
    // Ordered by username, whichever of the two matched.
    assert_eq!(found(stores, search("ann", None, 10)).await, ["Ann_Lee", "annex", "bob"]);
    // `_`, `%` and `\` are characters like any other, not wildcards or escapes.
    assert_eq!(found(stores, search("ANN_", None, 10)).await, ["Ann_Lee"]);
    assert!(found(stores, search("an_", None, 10)).await.is_empty());
    assert_eq!(found(stores, search("anna 100%", None, 10)).await, ["bob"]);
    assert!(found(stores, search("anna 1%", None, 10)).await.is_empty());
    assert_eq!(found(stores, search(r"zoë \", None, 10)).await, ["cid"]);
    assert!(found(stores, search(r"zoë \\", None, 10)).await.is_empty());
    // A display name matches at its start only.
    assert!(found(stores, search("100", None, 10)).await.is_empty());
    assert!(found(stores, search("nobody", None, 10)).await.is_empty());
}

async fn a_search_pages_by_lower_cased_username_after_the_cursor(stores: &Stores) {
    for name in ["pg.e", "PG.C", "pg.a", "pg-z", "Pg.B", "pga"] {
        stores.user(name).await;
    }
    // Byte order of the lower-cased usernames: '-' < '.' < 'a'.
    assert_eq!(found(stores, search("pg", None, 10)).await, ["pg-z", "pg.a", "Pg.B", "PG.C", "pg.e", "pga"]);
    assert_eq!(found(stores, search("pg.", None, 2)).await, ["pg.a", "Pg.B"]);
    assert_eq!(found(stores, search("pg.", Some("PG.b"), 2)).await, ["PG.C", "pg.e"]);
    assert!(found(stores, search("pg.", Some("pg.e"), 2)).await.is_empty());
    // A cursor need not name anyone: it is a place in the order.
    assert_eq!(found(stores, search("pg", Some("pg.bb"), 10)).await, ["PG.C", "pg.e", "pga"]);
}

async fn usernames_are_looked_up_many_at_once_whatever_their_case(stores: &Stores) {
    let (ann, bob) = (stores.user("Ann").await, stores.user("bob").await);
    stores.user("cid").await;
    let names: Vec<Username> =
        ["ANN", "Bob", "ghost", "ann"].iter().map(|n| Username::parse(n).unwrap()).collect();
    let mut ids: Vec<UserId> =
        stores.users.by_usernames(&names).await.unwrap().into_iter().map(|u| u.id).collect();
    ids.sort_by_key(|id| id.to_string());
    let mut expected = vec![ann, bob];
    expected.sort_by_key(|id| id.to_string());
    assert_eq!(ids, expected);
    assert!(stores.users.by_usernames(&[]).await.unwrap().is_empty());
    let many: Vec<Username> = (0..1000).map(|i| Username::parse(&format!("nobody{i}")).unwrap()).collect();
    assert!(stores.users.by_usernames(&many).await.unwrap().is_empty());
}

async fn a_role_is_set_by_username_in_any_case_and_kept(stores: &Stores) {
    let ann = stores.user("ann").await;
    assert_eq!(stores.users.by_id(ann).await.unwrap().unwrap().role, UserRole::User);
    let admin =
        stores.users.set_role(&Username::parse("ANN").unwrap(), UserRole::Admin).await.unwrap().unwrap();
    assert_eq!((admin.id, admin.role), (ann, UserRole::Admin));
    assert_eq!(stores.users.by_id(ann).await.unwrap().unwrap().role, UserRole::Admin);
    assert_eq!(stores.users.credentials("ann").await.unwrap().unwrap().0.role, UserRole::Admin);
    assert!(
        stores.users.set_role(&Username::parse("nobody").unwrap(), UserRole::Admin).await.unwrap().is_none()
    );
}

async fn the_audit_log_pages_newest_first_before_an_entry(stores: &Stores) {
    let ann = stores.user("ann").await;
    let entries: Vec<AuditEntry> = (0..3)
        .map(|i| AuditEntry {
            id: uuid::Uuid::now_v7(),
            at: super::now(),
            actor: (i > 0).then_some(ann),
            action: if i == 1 { AuditAction::AdminRevoked } else { AuditAction::AdminGranted },
            target_user: Some(ann),
            detail: (i == 0).then(|| "from the command line".to_owned()),
        })
        .collect();
    for entry in &entries {
        stores.audit.record(entry).await.unwrap();
    }
    let newest_first: Vec<AuditEntry> = entries.iter().rev().cloned().collect();
    assert_eq!(stores.audit.page(None, 10).await.unwrap(), newest_first);
    assert_eq!(stores.audit.page(None, 1).await.unwrap(), newest_first[..1]);
    assert_eq!(stores.audit.page(Some(entries[2].id), 10).await.unwrap(), newest_first[1..]);
    assert!(stores.audit.page(Some(entries[0].id), 10).await.unwrap().is_empty());
}
