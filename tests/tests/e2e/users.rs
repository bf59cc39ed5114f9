use chat_tests::TestApp;
use serde_json::json;

#[tokio::test]
async fn a_user_renames_themselves_and_others_see_it() {
    let app = TestApp::spawn().await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let renamed =
        app.call("PATCH", "/users/me", Some(&ann.access), Some(json!({"display_name": "  Ann A.  "}))).await;
    assert_eq!(renamed.status, 200);
    assert_eq!(renamed.body["display_name"], "Ann A.");
    let seen = app.call("GET", &format!("/users/{}", ann.id), Some(&bob.access), None).await;
    assert_eq!(seen.status, 200);
    assert_eq!(seen.body["display_name"], "Ann A.");
    let keys: Vec<&String> = seen.body.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4, "User = id, username, display_name, created_at: {keys:?}");
}

#[tokio::test]
async fn an_unknown_user_is_not_found_and_a_malformed_id_is_invalid() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let missing = app.call("GET", &format!("/users/{}", uuid::Uuid::new_v4()), Some(&ann.access), None).await;
    assert_eq!((missing.status, missing.code()), (404, Some("not_found")));
    let malformed = app.call("GET", "/users/not-a-uuid", Some(&ann.access), None).await;
    assert_eq!((malformed.status, malformed.code()), (400, Some("invalid_input")));
}

#[tokio::test]
async fn a_token_of_a_deleted_user_no_longer_reaches_their_profile() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    sqlx::query("delete from users").execute(&app.db.pool).await.unwrap();
    let answer = app.call("GET", "/users/me", Some(&ann.access), None).await;
    assert_eq!(answer.status, 401);
}
