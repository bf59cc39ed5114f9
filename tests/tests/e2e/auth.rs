use chat_tests::TestApp;
use serde_json::json;

#[tokio::test]
async fn a_full_session_lifecycle_works_and_token_reuse_kills_the_family() {
    let app = TestApp::spawn().await.unwrap();
    let registered = app
        .call(
            "POST",
            "/auth/register",
            None,
            Some(json!({"username": "ann", "password": "ann-password", "display_name": "Ann"})),
        )
        .await;
    assert_eq!(registered.status, 201);
    assert_eq!(registered.body["token_type"], "Bearer");
    assert_eq!(registered.body["expires_in"], 900);
    assert_eq!(registered.body["user"]["display_name"], "Ann");
    assert!(registered.body["user"].get("password_hash").is_none());

    let login = app
        .call("POST", "/auth/login", None, Some(json!({"username": "ann", "password": "ann-password"})))
        .await;
    assert_eq!(login.status, 200);
    let access = login.body["access_token"].as_str().unwrap();
    let first_refresh = login.body["refresh_token"].as_str().unwrap().to_owned();

    let me = app.call("GET", "/users/me", Some(access), None).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["username"], "ann");

    let refreshed =
        app.call("POST", "/auth/refresh", None, Some(json!({"refresh_token": first_refresh}))).await;
    assert_eq!(refreshed.status, 200);
    let second_refresh = refreshed.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first_refresh, second_refresh);
    let new_access = refreshed.body["access_token"].as_str().unwrap();
    assert_eq!(app.call("GET", "/users/me", Some(new_access), None).await.status, 200);

    // Reusing the spent token fails and revokes the fresh one too.
    let reused = app.call("POST", "/auth/refresh", None, Some(json!({"refresh_token": first_refresh}))).await;
    assert_eq!((reused.status, reused.code()), (401, Some("unauthorized")));
    let after = app.call("POST", "/auth/refresh", None, Some(json!({"refresh_token": second_refresh}))).await;
    assert_eq!(after.status, 401);

    // A new login is unaffected, and logging out ends it.
    let again = app
        .call("POST", "/auth/login", None, Some(json!({"username": "ann", "password": "ann-password"})))
        .await;
    let token = again.body["refresh_token"].as_str().unwrap().to_owned();
    let logout = app.call("POST", "/auth/logout", None, Some(json!({"refresh_token": token}))).await;
    assert_eq!(logout.status, 204);
    let dead = app.call("POST", "/auth/refresh", None, Some(json!({"refresh_token": token}))).await;
    assert_eq!(dead.status, 401);
}

#[tokio::test]
async fn wrong_username_and_wrong_password_get_the_same_answer() {
    let app = TestApp::spawn().await.unwrap();
    app.register("ann").await;
    let wrong_password = app
        .call("POST", "/auth/login", None, Some(json!({"username": "ann", "password": "not-her-password"})))
        .await;
    let wrong_user = app
        .call("POST", "/auth/login", None, Some(json!({"username": "nobody", "password": "ann-password"})))
        .await;
    assert_eq!(wrong_password.status, 401);
    assert_eq!(wrong_password.status, wrong_user.status);
    assert_eq!(wrong_password.body, wrong_user.body);
}

#[tokio::test]
async fn usernames_are_unique_regardless_of_case() {
    let app = TestApp::spawn().await.unwrap();
    app.register("Ann").await;
    let taken = app
        .call("POST", "/auth/register", None, Some(json!({"username": "aNN", "password": "password-1"})))
        .await;
    assert_eq!((taken.status, taken.code()), (409, Some("conflict")));
    let login = app
        .call("POST", "/auth/login", None, Some(json!({"username": "ANN", "password": "Ann-password"})))
        .await;
    assert_eq!(login.status, 200);
}

#[tokio::test]
async fn twenty_concurrent_registrations_of_one_username_yield_exactly_one_account() {
    let app = TestApp::spawn().await.unwrap();
    let attempts = (0..20).map(|i| {
        let body = json!({"username": "race", "password": format!("password-{i}")});
        app.call("POST", "/auth/register", None, Some(body))
    });
    let answers = futures::future::join_all(attempts).await;
    let created = answers.iter().filter(|a| a.status == 201).count();
    let conflicts = answers.iter().filter(|a| a.status == 409).count();
    assert_eq!((created, conflicts), (1, 19), "{:?}", answers.iter().map(|a| a.status).collect::<Vec<_>>());
    let rows: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn passwords_and_refresh_tokens_are_stored_only_as_hashes() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let (hash,): (String,) =
        sqlx::query_as("select password_hash from users").fetch_one(&app.db.pool).await.unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(&ann.password));
    let stored: Vec<Vec<u8>> =
        sqlx::query_scalar("select token_hash from refresh_tokens").fetch_all(&app.db.pool).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], ann.refresh.as_bytes());
}

#[tokio::test]
async fn an_expired_access_token_is_refused() {
    let app = TestApp::spawn_with(&["--access-token-ttl", "1s"]).await.unwrap();
    let ann = app.register("ann").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let answer = app.call("GET", "/users/me", Some(&ann.access), None).await;
    assert_eq!((answer.status, answer.code()), (401, Some("unauthorized")));
    assert!(answer.body["error"]["message"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_refused() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let mut forged = ann.access.clone();
    // Flip the last character of the signature.
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    for token in [forged.as_str(), "garbage", ""] {
        let answer = app.call("GET", "/users/me", Some(token), None).await;
        assert_eq!(answer.status, 401, "{token:?}");
    }
    let no_token = app.call("GET", "/users/me", None, None).await;
    assert_eq!((no_token.status, no_token.code()), (401, Some("unauthorized")));
}

#[tokio::test]
async fn logout_with_an_unknown_token_is_unauthorized() {
    let app = TestApp::spawn().await.unwrap();
    let answer = app.call("POST", "/auth/logout", None, Some(json!({"refresh_token": "made-up"}))).await;
    assert_eq!(answer.status, 401);
}
