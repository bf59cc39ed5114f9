use chat_tests::TestApp;
use serde_json::json;

#[tokio::test]
async fn a_group_is_created_listed_and_read_by_its_members_only() {
    let app = TestApp::spawn().await.unwrap();
    let (ann, bob, eve) = (app.register("ann").await, app.register("bob").await, app.register("eve").await);
    let created = app
        .call(
            "POST",
            "/rooms",
            Some(&ann.access),
            Some(json!({"name": "team", "type": "group", "member_ids": [bob.id]})),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["type"], "group");
    assert_eq!(created.body["created_by"], ann.id.as_str());
    assert_eq!(created.body["is_active"], true);
    let room = created.body["id"].as_str().unwrap();

    let bobs = app.call("GET", "/rooms", Some(&bob.access), None).await;
    assert_eq!(bobs.status, 200);
    let entry = &bobs.body["rooms"][0];
    assert_eq!((entry["id"].as_str(), entry["role"].as_str()), (Some(room), Some("member")));
    assert_eq!((entry["last_read_seq"].as_u64(), entry["unread_count"].as_u64()), (Some(0), Some(0)));

    assert_eq!(app.call("GET", &format!("/rooms/{room}"), Some(&bob.access), None).await.status, 200);
    let outsider = app.call("GET", &format!("/rooms/{room}"), Some(&eve.access), None).await;
    assert_eq!((outsider.status, outsider.code()), (403, Some("forbidden")));
    let members = app.call("GET", &format!("/rooms/{room}/members"), Some(&eve.access), None).await;
    assert_eq!(members.status, 403);

    let members = app.call("GET", &format!("/rooms/{room}/members"), Some(&ann.access), None).await;
    let roles: Vec<(&str, &str)> = members.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["user_id"].as_str().unwrap(), p["role"].as_str().unwrap()))
        .collect();
    assert_eq!(roles, vec![(ann.id.as_str(), "owner"), (bob.id.as_str(), "member")]);
}

#[tokio::test]
async fn a_direct_room_is_unique_per_pair() {
    let app = TestApp::spawn().await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let first = app
        .call("POST", "/rooms", Some(&ann.access), Some(json!({"type": "direct", "member_ids": [bob.id]})))
        .await;
    assert_eq!(first.status, 201);
    let again = app
        .call("POST", "/rooms", Some(&bob.access), Some(json!({"type": "direct", "member_ids": [ann.id]})))
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(first.body["id"], again.body["id"]);
    let third = app.register("cid").await;
    let add = app
        .call(
            "POST",
            &format!("/rooms/{}/members", first.body["id"].as_str().unwrap()),
            Some(&ann.access),
            Some(json!({"user_id": third.id})),
        )
        .await;
    assert_eq!(add.status, 403);
}

#[tokio::test]
async fn concurrent_direct_room_creation_makes_one_room() {
    let app = TestApp::spawn().await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let attempts = (0..10).map(|i| {
        let (me, other) = if i % 2 == 0 { (&ann, &bob) } else { (&bob, &ann) };
        app.call(
            "POST",
            "/rooms",
            Some(&me.access),
            Some(json!({"type": "direct", "member_ids": [other.id]})),
        )
    });
    let answers = futures::future::join_all(attempts).await;
    let ids: std::collections::HashSet<_> = answers.iter().map(|a| a.body["id"].to_string()).collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    assert_eq!(answers.iter().filter(|a| a.status == 201).count(), 1);
}

#[tokio::test]
async fn membership_follows_the_role_rules() {
    let app = TestApp::spawn().await.unwrap();
    let (ann, bob, cid, dan) = (
        app.register("ann").await,
        app.register("bob").await,
        app.register("cid").await,
        app.register("dan").await,
    );
    let room = app.create_room(&ann, "group", &[&bob]).await;
    let members = format!("/rooms/{room}/members");

    // A plain member may not add; the owner may, and may make admins.
    let by_member = app.call("POST", &members, Some(&bob.access), Some(json!({"user_id": cid.id}))).await;
    assert_eq!((by_member.status, by_member.code()), (403, Some("forbidden")));
    let admin = app
        .call("POST", &members, Some(&ann.access), Some(json!({"user_id": cid.id, "role": "admin"})))
        .await;
    assert_eq!(admin.status, 201);
    assert_eq!(admin.body["role"], "admin");
    assert_eq!(admin.body["last_read_seq"], 0);
    let by_admin = app.call("POST", &members, Some(&cid.access), Some(json!({"user_id": dan.id}))).await;
    assert_eq!(by_admin.status, 201);

    // Admins cannot remove the owner; members cannot remove others; anyone can leave.
    let kick_owner = app.call("DELETE", &format!("{members}/{}", ann.id), Some(&cid.access), None).await;
    assert_eq!(kick_owner.status, 403);
    let kick_by_member = app.call("DELETE", &format!("{members}/{}", dan.id), Some(&bob.access), None).await;
    assert_eq!(kick_by_member.status, 403);
    let kick = app.call("DELETE", &format!("{members}/{}", dan.id), Some(&cid.access), None).await;
    assert_eq!(kick.status, 204);
    let leave = app.call("DELETE", &format!("{members}/{}", bob.id), Some(&bob.access), None).await;
    assert_eq!(leave.status, 204);
    assert_eq!(app.call("GET", &format!("/rooms/{room}"), Some(&bob.access), None).await.status, 403);
    let gone = app.call("DELETE", &format!("{members}/{}", bob.id), Some(&ann.access), None).await;
    assert_eq!((gone.status, gone.code()), (404, Some("not_found")));
}

#[tokio::test]
async fn anyone_reads_and_joins_a_channel() {
    let app = TestApp::spawn().await.unwrap();
    let (ann, eve) = (app.register("ann").await, app.register("eve").await);
    let room = app.create_room(&ann, "channel", &[]).await;
    assert_eq!(app.call("GET", &format!("/rooms/{room}"), Some(&eve.access), None).await.status, 200);
    assert_eq!(app.call("GET", &format!("/rooms/{room}/members"), Some(&eve.access), None).await.status, 200);
    let join = app
        .call("POST", &format!("/rooms/{room}/members"), Some(&eve.access), Some(json!({"user_id": eve.id})))
        .await;
    assert_eq!(join.status, 201);
    let as_admin = app
        .call(
            "POST",
            &format!("/rooms/{room}/members"),
            Some(&eve.access),
            Some(json!({"user_id": eve.id, "role": "admin"})),
        )
        .await;
    assert_eq!(as_admin.status, 403);
    let listed = app.call("GET", "/rooms", Some(&eve.access), None).await;
    assert_eq!(listed.body["rooms"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn unknown_rooms_and_users_are_not_found() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let nowhere = uuid::Uuid::new_v4();
    let room = app.call("GET", &format!("/rooms/{nowhere}"), Some(&ann.access), None).await;
    assert_eq!((room.status, room.code()), (404, Some("not_found")));
    let own = app.create_room(&ann, "group", &[]).await;
    let user = app
        .call("POST", &format!("/rooms/{own}/members"), Some(&ann.access), Some(json!({"user_id": nowhere})))
        .await;
    assert_eq!(user.status, 404);
}

#[tokio::test]
async fn the_read_marker_only_moves_forward_even_under_concurrent_updates() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "group", &[]).await;
    let messages = format!("/rooms/{room}/messages");
    for n in 0..40 {
        let sent = app.call("POST", &messages, Some(&ann.access), Some(json!({"content": format!("m{n}")})));
        assert_eq!(sent.await.body["seq"], n + 1, "a stream of this test's own numbers from 1");
    }
    let path = format!("/rooms/{room}/read");
    let updates =
        (1..=40u64).rev().map(|seq| app.call("POST", &path, Some(&ann.access), Some(json!({"seq": seq}))));
    for answer in futures::future::join_all(updates).await {
        assert_eq!(answer.status, 204);
    }
    assert_eq!(app.call("POST", &path, Some(&ann.access), Some(json!({"seq": 3}))).await.status, 204);
    let listed = app.call("GET", "/rooms", Some(&ann.access), None).await;
    assert_eq!(listed.body["rooms"][0]["last_read_seq"], 40);
}
