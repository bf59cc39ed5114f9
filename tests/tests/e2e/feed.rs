//! Each user's feed: rooms appearing, disappearing and changing, and read markers moved on
//! another device, on every socket of the user on every node, without joining anything; the
//! `rooms` frame and the re-sync rule; `PATCH /rooms/{id}` and its refusals.

use std::collections::BTreeSet;
use std::time::Duration;

use chat_tests::embedded::{DataDir, EmbeddedApp};
use chat_tests::ws::{Codec, WsClient};

use crate::sockets::{WAIT, expect_frame, expect_nothing, open_socket};
use chat_tests::{Account, TestApp, TestNode};
use serde_json::{Value, json};

async fn patch_room(
    app: &TestApp,
    node: &TestNode,
    caller: &Account,
    room: &str,
    body: Value,
) -> chat_tests::Answer {
    app.call_on(node, "PATCH", &format!("/rooms/{room}"), Some(&caller.access), Some(body)).await
}

#[tokio::test]
async fn rooms_appear_change_and_disappear_on_every_socket_of_the_user_on_every_node() {
    let app = TestApp::spawn().await.unwrap();
    let other = app.add_node().await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let mut laptop = open_socket(&app.node, &ann, Codec::Json).await;
    let mut phone = open_socket(&other, &ann, Codec::MsgPack).await;

    let body = json!({"name": "team", "type": "group", "member_ids": [ann.id]});
    let created = app.call_on(&other, "POST", "/rooms", Some(&bob.access), Some(body)).await;
    assert_eq!(created.status, 201);
    let room = created.body["id"].as_str().unwrap().to_owned();
    for socket in [&mut laptop, &mut phone] {
        let added = expect_frame(socket, "room_added").await;
        assert_eq!(added["room"]["id"], room.as_str());
        assert_eq!((&added["room"]["name"], &added["room"]["role"]), (&json!("team"), &json!("member")));
        assert_eq!((&added["room"]["unread_count"], &added["room"]["topic"]), (&json!(0), &Value::Null));
    }

    let direct = json!({"type": "direct", "member_ids": [ann.id]});
    let dm = app.call_on(&other, "POST", "/rooms", Some(&bob.access), Some(direct.clone())).await;
    let dm_id = dm.body["id"].as_str().unwrap().to_owned();
    for socket in [&mut laptop, &mut phone] {
        assert_eq!(expect_frame(socket, "room_added").await["room"]["id"], dm_id.as_str());
    }
    // Asked for again: the same room, nothing new to hear.
    assert_eq!(app.call("POST", "/rooms", Some(&bob.access), Some(direct)).await.status, 200);

    let renamed =
        patch_room(&app, &app.node, &bob, &room, json!({"name": "plans", "topic": "what next"})).await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    assert_eq!((&renamed.body["name"], &renamed.body["topic"]), (&json!("plans"), &json!("what next")));
    for socket in [&mut laptop, &mut phone] {
        let updated = expect_frame(socket, "room_updated").await;
        assert_eq!(updated["room"], renamed.body);
    }
    let read_back = app.call_on(&other, "GET", &format!("/rooms/{room}"), Some(&ann.access), None).await;
    assert_eq!(read_back.body, renamed.body);

    let removed =
        app.call("DELETE", &format!("/rooms/{room}/members/{}", ann.id), Some(&bob.access), None).await;
    assert_eq!(removed.status, 204);
    for socket in [&mut laptop, &mut phone] {
        assert_eq!(expect_frame(socket, "room_removed").await, json!({"type": "room_removed", "room": room}));
        expect_nothing(socket).await;
    }
}

#[tokio::test]
async fn bob_hears_nothing_of_anns_rooms() {
    let app = TestApp::spawn().await.unwrap();
    let (ann, bob, cat) = (app.register("ann").await, app.register("bob").await, app.register("cat").await);
    let mut bobs = open_socket(&app.node, &bob, Codec::Json).await;
    let room = app.create_room(&ann, "group", &[&cat]).await;
    patch_room(&app, &app.node, &ann, &room, json!({"topic": "ours"})).await;
    app.call("DELETE", &format!("/rooms/{room}/members/{}", cat.id), Some(&ann.access), None).await;
    expect_nothing(&mut bobs).await;
}

#[tokio::test]
async fn a_read_marker_moved_on_one_device_reaches_the_others_and_not_itself() {
    let app = TestApp::spawn().await.unwrap();
    let other = app.add_node().await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "group", &[]).await;
    let sent = app
        .call("POST", &format!("/rooms/{room}/messages"), Some(&ann.access), Some(json!({"content": "hi"})))
        .await;
    let seq = sent.body["seq"].as_u64().unwrap();
    let mut laptop = open_socket(&app.node, &ann, Codec::Json).await;
    let mut phone = open_socket(&other, &ann, Codec::MsgPack).await;

    let read = laptop.request(json!({"type": "read", "room": room, "seq": seq})).await.unwrap();
    assert_eq!(read["ok"], true);
    let heard = expect_frame(&mut phone, "read").await;
    assert_eq!(heard, json!({"type": "read", "room": room, "user_id": ann.id, "seq": seq}));
    expect_nothing(&mut laptop).await;

    let rest = app
        .call_on(&other, "POST", &format!("/rooms/{room}/read"), Some(&ann.access), Some(json!({"seq": seq})))
        .await;
    assert_eq!(rest.status, 204);
    for socket in [&mut laptop, &mut phone] {
        assert_eq!(expect_frame(socket, "read").await["seq"], seq);
    }
}

/// The re-sync rule: while another node adds the user to room after room, a socket that opens
/// midway and asks for `rooms` holds every room from the reply and the events after it.
#[tokio::test]
async fn the_rooms_reply_and_the_events_after_it_miss_no_room_added_meanwhile() {
    const ROOMS: usize = 40;
    let app = TestApp::spawn().await.unwrap();
    let other = app.add_node().await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let adding = {
        let (http, url, token, ann_id) =
            (reqwest::Client::new(), other.url("/rooms"), bob.access.clone(), ann.id.clone());
        tokio::spawn(async move {
            let mut ids = BTreeSet::new();
            for i in 0..ROOMS {
                let body = json!({"name": format!("room {i}"), "type": "group", "member_ids": [ann_id]});
                let created: Value = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                ids.insert(created["id"].as_str().unwrap().to_owned());
            }
            ids
        })
    };
    while app.call("GET", "/rooms", Some(&ann.access), None).await.body["rooms"].as_array().unwrap().len() < 5
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut socket = WsClient::connect(app.node.addr, Some(&ann.access), Codec::Json).await.unwrap();
    let listed = socket.request(json!({"type": "rooms"})).await.unwrap();
    assert_eq!(listed["ok"], true, "{listed}");
    let mut held: BTreeSet<String> =
        listed["rooms"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    assert!(held.len() < ROOMS, "the socket opened after all rooms were added: the test proves nothing");
    let all = adding.await.unwrap();
    while held.len() < ROOMS {
        let Some(frame) = socket.next_frame(WAIT).await else { break };
        if frame["type"] == "room_added" {
            held.insert(frame["room"]["id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(held, all);
}

#[tokio::test]
async fn the_rooms_frame_answers_the_room_list_in_both_codecs_and_ignores_unknown_fields() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "channel", &[]).await;
    let listed = app.call("GET", "/rooms", Some(&ann.access), None).await.body["rooms"].clone();
    for codec in [Codec::Json, Codec::MsgPack] {
        let mut socket = open_socket(&app.node, &ann, codec).await;
        let reply = socket.request(json!({"type": "rooms", "room": 5, "x": [1, 2]})).await.unwrap();
        assert_eq!(reply["rooms"], listed);
        assert_eq!(reply["rooms"][0]["id"], room.as_str());
        // Without an id the frame is answered by nothing; a bad id by an error frame.
        socket.send_value(&json!({"type": "rooms", "id": "one"})).await.unwrap();
        assert_eq!(expect_frame(&mut socket, "error").await["error"]["code"], "invalid_input");
        let again = socket.request(json!({"type": "ping"})).await.unwrap();
        assert_eq!(again["ok"], true);
    }
}

#[tokio::test]
async fn only_owners_and_admins_of_groups_and_channels_change_a_room_and_bad_input_is_named() {
    let app = TestApp::spawn().await.unwrap();
    let (ann, bob, cat, eve) = (
        app.register("ann").await,
        app.register("bob").await,
        app.register("cat").await,
        app.register("eve").await,
    );
    let room = app.create_room(&ann, "group", &[&bob]).await;
    let promoted = app
        .call(
            "POST",
            &format!("/rooms/{room}/members"),
            Some(&ann.access),
            Some(json!({"user_id": cat.id, "role": "admin"})),
        )
        .await;
    assert_eq!((promoted.status, &promoted.body["role"]), (201, &json!("admin")));
    let direct = app.create_room(&ann, "direct", &[&bob]).await;
    let path = format!("/rooms/{room}");

    let by_admin = patch_room(&app, &app.node, &cat, &room, json!({"topic": "  set by cat  "})).await;
    assert_eq!(
        (by_admin.status, &by_admin.body["topic"]),
        (200, &json!("set by cat")),
        "{:?}",
        by_admin.body
    );
    let cleared = patch_room(&app, &app.node, &ann, &room, json!({"topic": null})).await;
    assert_eq!((cleared.status, &cleared.body["topic"]), (200, &Value::Null));

    for (caller, target, code) in [(&bob, &room, 403), (&eve, &room, 403), (&ann, &direct, 403)] {
        let refused = patch_room(&app, &app.node, caller, target, json!({"name": "mine"})).await;
        assert_eq!((refused.status, refused.code()), (code, Some("forbidden")), "{:?}", refused.body);
    }
    let unknown = format!("/rooms/{}", uuid::Uuid::new_v4());
    assert_eq!(app.call("PATCH", &unknown, Some(&ann.access), Some(json!({"name": "x"}))).await.status, 404);
    assert_eq!(
        app.call("PATCH", "/rooms/not-a-uuid", Some(&ann.access), Some(json!({"name": "x"}))).await.status,
        400
    );
    assert_eq!(app.call("PATCH", &path, None, Some(json!({"name": "x"}))).await.status, 401);
    assert_eq!(app.call("PATCH", &path, Some("not.a.token"), Some(json!({"name": "x"}))).await.status, 401);

    for (body, fields) in [
        (json!({}), vec!["name", "topic"]),
        (json!({"name": ""}), vec!["name"]),
        (json!({"name": "x".repeat(101)}), vec!["name"]),
        (json!({"name": 7}), vec!["name"]),
        (json!({"topic": "t".repeat(251)}), vec!["topic"]),
        (json!({"topic": ["a"]}), vec!["topic"]),
        (json!({"topic": "a\u{202e}b"}), vec!["topic"]),
        (json!({"topic": "\u{200b}"}), vec!["topic"]),
    ] {
        let refused = patch_room(&app, &app.node, &ann, &room, body.clone()).await;
        assert_eq!((refused.status, refused.code()), (400, Some("invalid_input")), "{body}");
        for field in fields {
            assert!(refused.body["error"]["fields"][field].is_string(), "{body}: {:?}", refused.body);
        }
    }
    let malformed = app.call_raw("PATCH", &path, Some(&ann.access), b"{\"name\": ".to_vec()).await;
    assert_eq!(malformed.status, 400);
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let too_large = app.call_raw("PATCH", &path, Some(&ann.access), huge.into_bytes()).await;
    assert_eq!(too_large.status, 413);
    let unchanged = app.call("GET", &path, Some(&ann.access), None).await;
    assert_eq!((&unchanged.body["name"], &unchanged.body["topic"]), (&json!("group room"), &Value::Null));
}

#[tokio::test]
async fn an_embedded_node_tells_a_user_of_rooms_and_keeps_topics() {
    let dir = DataDir::new();
    let app = EmbeddedApp::spawn(&dir).await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let mut socket = app.ws(&ann, Codec::Json).await;
    assert_eq!(socket.request(json!({"type": "ping"})).await.unwrap()["ok"], true);
    let room = app.create_room(&bob, &[&ann]).await;
    assert_eq!(expect_frame(&mut socket, "room_added").await["room"]["id"], room.as_str());
    let path = format!("/rooms/{room}");
    let set = app.call("PATCH", &path, Some(&bob.access), Some(json!({"topic": "kept"}))).await;
    assert_eq!(set.status, 200);
    assert_eq!(expect_frame(&mut socket, "room_updated").await["room"]["topic"], "kept");
    drop(socket);
    app.stop().await.unwrap();
    let app = EmbeddedApp::spawn(&dir).await.unwrap();
    assert_eq!(app.call("GET", &path, Some(&ann.access), None).await.body["topic"], "kept");
}
