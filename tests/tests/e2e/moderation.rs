//! Moderation across two nodes: a ban removes a user and every socket of theirs stops hearing
//! the room at once, on every node, and keeps them out; a mute refuses every send, edit and
//! reaction while they go on reading; an announcement room takes posts from its owner and
//! admins only; and every refusal.

use std::time::Duration;

use chat_tests::embedded::{DataDir, EmbeddedApp};
use chat_tests::ws::{Codec, WsClient};
use chat_tests::{Account, Answer, TestApp, TestNode};
use serde_json::{Value, json};

use crate::sockets::{expect_frame, expect_nothing, open_socket};

async fn send(app: &TestApp, node: &TestNode, sender: &Account, room: &str, content: &str) -> Answer {
    let body = json!({ "content": content });
    app.call_on(node, "POST", &format!("/rooms/{room}/messages"), Some(&sender.access), Some(body)).await
}

/// A socket of `account` on `node` that joined `room`.
async fn following(node: &TestNode, account: &Account, room: &str, codec: Codec) -> WsClient {
    let mut socket = open_socket(node, account, codec).await;
    let joined = socket.request(json!({"type": "join", "room": room})).await.unwrap();
    assert_eq!(joined["ok"], true, "{joined}");
    socket
}

/// The contents of the `message` frames that arrive within a short while.
async fn contents(socket: &mut WsClient) -> Vec<String> {
    let mut seen = Vec::new();
    while let Some(frame) = socket.next_frame(Duration::from_millis(500)).await {
        if frame["type"] == "message" {
            seen.push(frame["message"]["content"].as_str().unwrap().to_owned());
        }
    }
    seen
}

#[tokio::test]
async fn a_banned_user_hears_nothing_more_of_the_room_on_any_node_and_stays_out_until_unbanned() {
    let app = TestApp::spawn().await.unwrap();
    let other = app.add_node().await.unwrap();
    let (ann, bob, eve) = (app.register("ann").await, app.register("bob").await, app.register("eve").await);
    let news = app.create_room(&ann, "channel", &[&bob, &eve]).await;
    let mut eve_here = following(&app.node, &eve, &news, Codec::Json).await;
    let mut eve_there = following(&other, &eve, &news, Codec::MsgPack).await;
    let mut bobs = following(&other, &bob, &news, Codec::Json).await;

    let body = json!({"user_id": eve.id, "reason": "  spam  "});
    let banned = app.call("POST", &format!("/rooms/{news}/bans"), Some(&ann.access), Some(body)).await;
    assert_eq!(banned.status, 201, "{:?}", banned.body);
    assert_eq!((&banned.body["reason"], &banned.body["expires_at"]), (&json!("spam"), &Value::Null));
    assert_eq!((&banned.body["user_id"], &banned.body["banned_by"]), (&json!(eve.id), &json!(ann.id)));

    for content in ["after 1", "after 2", "after 3"] {
        assert_eq!(send(&app, &other, &ann, &news, content).await.status, 201);
    }
    assert_eq!(contents(&mut bobs).await, ["after 1", "after 2", "after 3"]);
    for socket in [&mut eve_here, &mut eve_there] {
        let mut frames = Vec::new();
        while let Some(frame) = socket.next_frame(Duration::from_millis(300)).await {
            frames.push(frame);
        }
        assert!(frames.iter().all(|f| f["type"] != "message"), "a banned user heard {frames:?}");
        assert!(
            frames.contains(&json!({"type": "room_removed", "room": news, "banned": true})),
            "{frames:?}"
        );
    }

    let refused = eve_there.request(json!({"type": "join", "room": news})).await.unwrap();
    assert_eq!(refused["error"]["code"], "forbidden", "{refused}");
    let self_add = json!({"user_id": eve.id});
    let rejoin = app
        .call_on(&other, "POST", &format!("/rooms/{news}/members"), Some(&eve.access), Some(self_add.clone()))
        .await;
    assert_eq!(
        (rejoin.status, rejoin.body["error"]["message"].as_str()),
        (403, Some("banned from this room"))
    );
    let added =
        app.call("POST", &format!("/rooms/{news}/members"), Some(&ann.access), Some(self_add.clone())).await;
    assert_eq!(added.status, 403);
    assert_eq!(send(&app, &app.node, &eve, &news, "let me in").await.status, 403);
    let listed = app.call_on(&other, "GET", &format!("/rooms/{news}/bans"), Some(&ann.access), None).await;
    assert_eq!(listed.body["bans"], json!([banned.body]));

    let lifted = app
        .call_on(&other, "DELETE", &format!("/rooms/{news}/bans/{}", eve.id), Some(&ann.access), None)
        .await;
    assert_eq!(lifted.status, 204);
    assert_eq!(
        app.call("GET", &format!("/rooms/{news}/bans"), Some(&ann.access), None).await.body["bans"],
        json!([])
    );
    let back = eve_here.request(json!({"type": "join", "room": news})).await.unwrap();
    assert_eq!(back["ok"], true, "{back}");
}

#[tokio::test]
async fn a_ban_with_an_expiry_and_a_ban_of_someone_not_yet_in_the_room() {
    let app = TestApp::spawn().await.unwrap();
    let (ann, eve) = (app.register("ann").await, app.register("eve").await);
    let news = app.create_room(&ann, "channel", &[]).await;
    let body = json!({"user_id": eve.id, "expires_in": 2});
    let banned = app.call("POST", &format!("/rooms/{news}/bans"), Some(&ann.access), Some(body)).await;
    assert_eq!(banned.status, 201);
    assert!(banned.body["expires_at"].is_string());
    let join = json!({"user_id": eve.id});
    let path = format!("/rooms/{news}/members");
    assert_eq!(app.call("POST", &path, Some(&eve.access), Some(join.clone())).await.status, 403);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(app.call("POST", &path, Some(&eve.access), Some(join)).await.status, 201);
}

#[tokio::test]
async fn a_muted_member_reads_on_but_every_send_edit_and_reaction_is_refused_on_every_node() {
    let app = TestApp::spawn().await.unwrap();
    let other = app.add_node().await.unwrap();
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let team = app.create_room(&ann, "group", &[&bob]).await;
    let before = send(&app, &other, &bob, &team, "before").await;
    let mut bobs = following(&other, &bob, &team, Codec::Json).await;

    let path = format!("/rooms/{team}/mutes/{}", bob.id);
    let muted = app.call("PUT", &path, Some(&ann.access), Some(json!({"expires_in": 3600}))).await;
    assert_eq!(muted.status, 200, "{:?}", muted.body);
    let until = muted.body["muted_until"].clone();
    assert!(until.is_string());
    assert_eq!(
        expect_frame(&mut bobs, "muted").await,
        json!({"type": "muted", "room": team, "until": until})
    );

    let refused = send(&app, &other, &bob, &team, "muted?").await;
    assert_eq!(
        (refused.status, refused.body["error"]["message"].as_str()),
        (403, Some("muted in this room"))
    );
    let by_socket = bobs.request(json!({"type": "send", "room": team, "content": "muted?"})).await.unwrap();
    assert_eq!(by_socket["error"]["code"], "forbidden");
    let message = before.body["id"].as_str().unwrap();
    let edit = app
        .call_on(
            &other,
            "PATCH",
            &format!("/rooms/{team}/messages/{message}"),
            Some(&bob.access),
            Some(json!({"content": "edited"})),
        )
        .await;
    assert_eq!(edit.status, 403);
    let react = app
        .call(
            "PUT",
            &format!("/rooms/{team}/messages/{message}/reactions/%F0%9F%91%8D"),
            Some(&bob.access),
            None,
        )
        .await;
    assert_eq!(react.status, 403);
    assert_eq!(send(&app, &app.node, &ann, &team, "still heard").await.status, 201);
    assert_eq!(expect_frame(&mut bobs, "message").await["message"]["content"], "still heard");
    let rooms = app.call_on(&other, "GET", "/rooms", Some(&bob.access), None).await;
    assert_eq!(rooms.body["rooms"][0]["muted_until"], until);

    let unmuted = app.call_on(&other, "DELETE", &path, Some(&ann.access), None).await;
    assert_eq!((unmuted.status, &unmuted.body["muted_until"]), (200, &Value::Null));
    assert_eq!(expect_frame(&mut bobs, "muted").await["until"], Value::Null);
    assert_eq!(send(&app, &other, &bob, &team, "free again").await.status, 201);
}

#[tokio::test]
async fn in_an_announcement_room_only_the_owner_and_admins_post() {
    let app = TestApp::spawn().await.unwrap();
    let other = app.add_node().await.unwrap();
    let (ann, bob, eve) = (app.register("ann").await, app.register("bob").await, app.register("eve").await);
    let news = app.create_room(&ann, "channel", &[&eve]).await;
    let admin = json!({"user_id": bob.id, "role": "admin"});
    assert_eq!(
        app.call("POST", &format!("/rooms/{news}/members"), Some(&ann.access), Some(admin)).await.status,
        201
    );
    assert_eq!(send(&app, &other, &eve, &news, "warm up the lease").await.status, 201);

    let path = format!("/rooms/{news}");
    let restricted =
        app.call("PATCH", &path, Some(&ann.access), Some(json!({"post_policy": "admins"}))).await;
    assert_eq!((restricted.status, &restricted.body["post_policy"]), (200, &json!("admins")));
    let refused = send(&app, &other, &eve, &news, "me too").await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_eq!(send(&app, &other, &bob, &news, "from an admin").await.status, 201);
    assert_eq!(send(&app, &app.node, &ann, &news, "from the owner").await.status, 201);

    let open = app.call("PATCH", &path, Some(&bob.access), Some(json!({"post_policy": "everyone"}))).await;
    assert_eq!(open.status, 200);
    assert_eq!(send(&app, &other, &eve, &news, "me too").await.status, 201);
}

#[tokio::test]
async fn moderation_is_refused_to_whoever_may_not_and_bad_input_is_named() {
    let app = TestApp::spawn().await.unwrap();
    let (ann, bob, cat, dan) = (
        app.register("ann").await,
        app.register("bob").await,
        app.register("cat").await,
        app.register("dan").await,
    );
    let team = app.create_room(&ann, "group", &[&dan]).await;
    for admin in [&bob, &cat] {
        let body = json!({"user_id": admin.id, "role": "admin"});
        assert_eq!(
            app.call("POST", &format!("/rooms/{team}/members"), Some(&ann.access), Some(body)).await.status,
            201
        );
    }
    let direct = app.create_room(&ann, "direct", &[&bob]).await;
    let bans = format!("/rooms/{team}/bans");
    let ban = |target: &Account| json!({"user_id": target.id});

    for (caller, target, room) in [
        (&bob, &cat, &team),
        (&bob, &ann, &team),
        (&dan, &bob, &team),
        (&ann, &ann, &team),
        (&ann, &bob, &direct),
    ] {
        let answer =
            app.call("POST", &format!("/rooms/{room}/bans"), Some(&caller.access), Some(ban(target))).await;
        assert_eq!((answer.status, answer.code()), (403, Some("forbidden")), "{:?}", answer.body);
        let mute = format!("/rooms/{room}/mutes/{}", target.id);
        let answer = app.call("PUT", &mute, Some(&caller.access), Some(json!({"expires_in": 60}))).await;
        assert_eq!(answer.status, 403, "{:?}", answer.body);
    }
    assert_eq!(app.call("GET", &bans, Some(&dan.access), None).await.status, 403);
    let stranger = app.register("eve").await;
    assert_eq!(app.call("GET", &bans, Some(&stranger.access), None).await.status, 403);
    let nobody = json!({"user_id": uuid::Uuid::new_v4()});
    assert_eq!(app.call("POST", &bans, Some(&ann.access), Some(nobody)).await.status, 404);
    let nowhere = format!("/rooms/{}/bans", uuid::Uuid::new_v4());
    assert_eq!(app.call("POST", &nowhere, Some(&ann.access), Some(ban(&dan))).await.status, 404);
    assert_eq!(app.call("DELETE", &format!("{bans}/{}", dan.id), Some(&ann.access), None).await.status, 404);
    let not_member = format!("/rooms/{team}/mutes/{}", stranger.id);
    assert_eq!(
        app.call("PUT", &not_member, Some(&ann.access), Some(json!({"expires_in": 60}))).await.status,
        404
    );
    for (method, path) in
        [("POST", bans.clone()), ("GET", bans.clone()), ("PUT", format!("/rooms/{team}/mutes/{}", dan.id))]
    {
        assert_eq!(app.call(method, &path, None, Some(ban(&dan))).await.status, 401);
    }
    assert_eq!(app.call("POST", "/rooms/nope/bans", Some(&ann.access), Some(ban(&dan))).await.status, 400);
    assert_eq!(
        app.call(
            "PUT",
            &format!("/rooms/{team}/mutes/nope"),
            Some(&ann.access),
            Some(json!({"expires_in": 5}))
        )
        .await
        .status,
        400
    );

    for (body, field) in [
        (json!({}), "user_id"),
        (json!({"user_id": "nope"}), "user_id"),
        (json!({"user_id": dan.id, "reason": ""}), "reason"),
        (json!({"user_id": dan.id, "reason": "r".repeat(501)}), "reason"),
        (json!({"user_id": dan.id, "reason": "a\u{202e}b"}), "reason"),
        (json!({"user_id": dan.id, "expires_in": 0}), "expires_in"),
        (json!({"user_id": dan.id, "expires_in": 31_622_401}), "expires_in"),
        (json!({"user_id": dan.id, "expires_in": -1}), "expires_in"),
        (json!({"user_id": dan.id, "expires_in": "soon"}), "expires_in"),
    ] {
        let answer = app.call("POST", &bans, Some(&ann.access), Some(body.clone())).await;
        assert_eq!(answer.status, 400, "{body}");
        assert!(answer.body["error"]["fields"][field].is_string(), "{body}: {:?}", answer.body);
    }
    let mute = format!("/rooms/{team}/mutes/{}", dan.id);
    for body in
        [json!({}), json!({"expires_in": 0}), json!({"expires_in": 1.5}), json!({"expires_in": 99_999_999})]
    {
        let answer = app.call("PUT", &mute, Some(&ann.access), Some(body.clone())).await;
        assert!(answer.body["error"]["fields"]["expires_in"].is_string(), "{body}: {:?}", answer.body);
    }
    let bad_policy = app
        .call("PATCH", &format!("/rooms/{team}"), Some(&ann.access), Some(json!({"post_policy": "owner"})))
        .await;
    assert!(bad_policy.body["error"]["fields"]["post_policy"].is_string());
    assert_eq!(app.call_raw("POST", &bans, Some(&ann.access), b"{\"user_id\":".to_vec()).await.status, 400);
    let huge = format!("{{\"user_id\": \"{}\", \"reason\": \"{}\"}}", dan.id, "x".repeat(2 * 1024 * 1024));
    assert_eq!(app.call_raw("POST", &bans, Some(&ann.access), huge.into_bytes()).await.status, 413);
    // Nothing of all that was done.
    assert_eq!(app.call("GET", &bans, Some(&ann.access), None).await.body["bans"], json!([]));
    let members = app.call("GET", &format!("/rooms/{team}/members"), Some(&ann.access), None).await;
    assert_eq!(members.body["members"].as_array().unwrap().len(), 4);
    assert!(members.body["members"].as_array().unwrap().iter().all(|m| m.get("muted_until").is_none()));
}

#[tokio::test]
async fn an_embedded_node_bans_and_mutes() {
    let dir = DataDir::new();
    let app = EmbeddedApp::spawn(&dir).await.unwrap();
    let (ann, bob, eve) = (app.register("ann").await, app.register("bob").await, app.register("eve").await);
    let room = app.create_room(&ann, &[&bob, &eve]).await;
    let mut eves = app.ws(&eve, Codec::Json).await;
    let banned = app
        .call("POST", &format!("/rooms/{room}/bans"), Some(&ann.access), Some(json!({"user_id": eve.id})))
        .await;
    assert_eq!(banned.status, 201);
    assert_eq!(expect_frame(&mut eves, "room_removed").await["banned"], true);
    let add = json!({"user_id": eve.id});
    assert_eq!(
        app.call("POST", &format!("/rooms/{room}/members"), Some(&ann.access), Some(add)).await.status,
        403
    );
    let mute = format!("/rooms/{room}/mutes/{}", bob.id);
    assert_eq!(app.call("PUT", &mute, Some(&ann.access), Some(json!({"expires_in": 60}))).await.status, 200);
    let body = json!({"content": "hi"});
    let refused = app.call("POST", &format!("/rooms/{room}/messages"), Some(&bob.access), Some(body)).await;
    assert_eq!(refused.status, 403);
    expect_nothing(&mut eves).await;
}

#[tokio::test]
async fn the_owner_promotes_and_demotes_and_a_demoted_admin_of_an_announcement_room_stops_posting() {
    let app = TestApp::spawn().await.unwrap();
    let other = app.add_node().await.unwrap();
    let (ann, bob, cat) = (app.register("ann").await, app.register("bob").await, app.register("cat").await);
    let news = app.create_room(&ann, "channel", &[&bob, &cat]).await;
    // Everyone following the room hears of each change, on every node, in both codecs.
    let mut bobs = following(&app.node, &bob, &news, Codec::MsgPack).await;
    let mut cats = following(&other, &cat, &news, Codec::Json).await;
    let role = |user: &Account| format!("/rooms/{news}/members/{}", user.id);
    let promoted = app.call("PATCH", &role(&bob), Some(&ann.access), Some(json!({"role": "admin"}))).await;
    assert_eq!((promoted.status, &promoted.body["role"]), (200, &json!("admin")), "{:?}", promoted.body);
    let heard = json!({"type": "member", "room": news, "user_id": bob.id, "change": "role", "role": "admin"});
    for socket in [&mut bobs, &mut cats] {
        let frame = loop {
            let frame = socket.next_frame(Duration::from_secs(5)).await.expect("a member frame");
            if frame["type"] == "member" {
                break frame;
            }
        };
        assert_eq!(frame, heard);
    }
    let policy = json!({"post_policy": "admins"});
    assert_eq!(
        app.call("PATCH", &format!("/rooms/{news}"), Some(&ann.access), Some(policy)).await.status,
        200
    );
    assert_eq!(send(&app, &other, &bob, &news, "as admin").await.status, 201);

    let demoted = app.call("PATCH", &role(&bob), Some(&ann.access), Some(json!({"role": "member"}))).await;
    assert_eq!((demoted.status, &demoted.body["role"]), (200, &json!("member")));
    assert_eq!(send(&app, &other, &bob, &news, "as member").await.status, 403);

    for (caller, target, body, status) in [
        (&bob, &cat, json!({"role": "admin"}), 403),
        (&ann, &ann, json!({"role": "member"}), 403),
        (&ann, &cat, json!({"role": "owner"}), 400),
        (&ann, &cat, json!({"role": 1}), 400),
        (&ann, &cat, json!({}), 400),
    ] {
        let answer = app.call("PATCH", &role(target), Some(&caller.access), Some(body.clone())).await;
        assert_eq!(answer.status, status, "{body}: {:?}", answer.body);
    }
    let stranger = app.register("dan").await;
    assert_eq!(
        app.call("PATCH", &role(&stranger), Some(&ann.access), Some(json!({"role": "admin"}))).await.status,
        404
    );
    assert_eq!(app.call("PATCH", &role(&cat), None, Some(json!({"role": "admin"}))).await.status, 401);
}
