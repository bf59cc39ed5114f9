//! Requests that the OpenAPI description (docs/openapi.json) calls valid are accepted, and the
//! cross-field rules it states are the ones the server applies: regression tests of what
//! schemathesis found (tests/schemathesis).

use chat_tests::TestApp;
use serde_json::json;

#[tokio::test]
async fn whole_numbers_written_with_a_zero_fraction_are_accepted() {
    let app = TestApp::spawn().await.unwrap();
    let (ann, bob, eve) = (app.register("ann").await, app.register("bob").await, app.register("eve").await);
    let team = app.create_room(&ann, "group", &[&bob]).await;
    let sent = app
        .call("POST", &format!("/rooms/{team}/messages"), Some(&ann.access), Some(json!({"content": "hi"})))
        .await;
    assert_eq!(sent.status, 201, "{:?}", sent.body);
    let seq = sent.body["seq"].as_u64().unwrap();

    let read = json!({"seq": seq as f64});
    let answer = app.call("POST", &format!("/rooms/{team}/read"), Some(&bob.access), Some(read)).await;
    assert!(answer.status < 300, "{:?}", answer.body);
    let mute = app
        .call(
            "PUT",
            &format!("/rooms/{team}/mutes/{}", bob.id),
            Some(&ann.access),
            Some(json!({"expires_in": 60.0})),
        )
        .await;
    assert_eq!(mute.status, 200, "{:?}", mute.body);
    let ban = json!({"user_id": eve.id, "expires_in": 3600.0});
    assert_eq!(
        app.call("POST", &format!("/rooms/{team}/bans"), Some(&ann.access), Some(ban)).await.status,
        201
    );

    let half = app
        .call(
            "PUT",
            &format!("/rooms/{team}/mutes/{}", bob.id),
            Some(&ann.access),
            Some(json!({"expires_in": 60.5})),
        )
        .await;
    assert_eq!(
        (half.status, half.body["error"]["fields"]["expires_in"].is_string()),
        (400, true),
        "{:?}",
        half.body
    );
}

#[tokio::test]
async fn optional_fields_given_as_null_count_as_absent() {
    let app = TestApp::spawn().await.unwrap();
    let body = json!({"username": "nullable", "password": "a long password", "display_name": null});
    let registered = app.call("POST", "/auth/register", None, Some(body)).await;
    assert_eq!(registered.status, 201, "{:?}", registered.body);
    assert_eq!(registered.body["user"]["display_name"], "nullable");

    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = json!({"type": "group", "name": "team", "member_ids": null, "member_usernames": null});
    let created = app.call("POST", "/rooms", Some(&ann.access), Some(room)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let team = created.body["id"].as_str().unwrap().to_owned();
    let add = json!({"user_id": bob.id, "username": null, "role": null});
    let added = app.call("POST", &format!("/rooms/{team}/members"), Some(&ann.access), Some(add)).await;
    assert_eq!((added.status, &added.body["role"]), (201, &json!("member")), "{:?}", added.body);
    let message =
        json!({"content": "hi", "client_msg_id": null, "kind": null, "metadata": null, "reply_to": null});
    let sent = app.call("POST", &format!("/rooms/{team}/messages"), Some(&ann.access), Some(message)).await;
    assert_eq!(sent.status, 201, "{:?}", sent.body);
}

#[tokio::test]
async fn a_room_change_with_nothing_to_change_names_each_field_it_could_have_given() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let team = app.create_room(&ann, "group", &[]).await;
    for nothing in [json!({}), json!({"name": null, "post_policy": null})] {
        let answer = app.call("PATCH", &format!("/rooms/{team}"), Some(&ann.access), Some(nothing)).await;
        assert_eq!(answer.status, 400, "{:?}", answer.body);
        let fields = &answer.body["error"]["fields"];
        assert!(["name", "topic", "post_policy"].iter().all(|field| fields[field].is_string()), "{fields}");
    }
    let policy = json!({"post_policy": "admins"});
    assert_eq!(
        app.call("PATCH", &format!("/rooms/{team}"), Some(&ann.access), Some(policy)).await.status,
        200
    );
}

#[tokio::test]
async fn history_and_thread_pages_take_any_seq_up_to_the_largest_u64() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let team = app.create_room(&ann, "group", &[]).await;
    let sent = app
        .call("POST", &format!("/rooms/{team}/messages"), Some(&ann.access), Some(json!({"content": "hi"})))
        .await;
    let message = sent.body["id"].as_str().unwrap().to_owned();
    let max = u64::MAX;
    for path in [
        format!("/rooms/{team}/messages?before={max}"),
        format!("/rooms/{team}/messages?after={max}"),
        format!("/rooms/{team}/messages/{message}/thread?after={max}"),
    ] {
        let answer = app.call("GET", &path, Some(&ann.access), None).await;
        assert_eq!(answer.status, 200, "{path}: {:?}", answer.body);
    }
    let beyond = app
        .call("GET", &format!("/rooms/{team}/messages?before=18446744073709551616"), Some(&ann.access), None)
        .await;
    assert_eq!(beyond.status, 400, "{:?}", beyond.body);
}
