//! Reactions, in a cluster (two nodes and a persister) and embedded: live on every node, counted
//! in history as each reader sees them, in a resume, stored once however often they are asked
//! for, and refused when they must be.

use chat_tests::ws::{Codec, WsClient};
use serde_json::{Value, json};

use crate::deployment::{Deployment, WAIT, history, in_both_modes, next_of, ws_send};

in_both_modes!(
    reactions_reach_the_other_node_live_and_are_counted_in_history,
    a_resume_with_since_gets_the_missed_reactions_in_order,
    repeated_and_concurrent_reactions_are_stored_once,
    refused_reactions_store_nothing,
);

/// `(emoji, count, me)` of a message's reactions.
fn counts(message: &Value) -> Vec<(String, u64, bool)> {
    let Some(reactions) = message["reactions"].as_array() else { return Vec::new() };
    reactions
        .iter()
        .map(|r| (r["emoji"].as_str().unwrap().to_owned(), r["count"].as_u64().unwrap(), r["me"] == true))
        .collect()
}

fn tally(emoji: &str, count: u64, me: bool) -> (String, u64, bool) {
    (emoji.to_owned(), count, me)
}

/// The reaction frames `client` receives until the message `marker` arrives.
async fn reactions_before(client: &mut WsClient, marker: &Value) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let frame = client.next_frame(WAIT).await.expect("the marker arrives");
        match frame["type"].as_str() {
            Some("reaction") => frames.push(frame),
            Some("message") if frame["message"]["id"] == marker["id"] => return frames,
            _ => {}
        }
    }
}

async fn reactions_reach_the_other_node_live_and_are_counted_in_history(deployment: &Deployment) {
    let (ann, bob) = (deployment.register("ann").await, deployment.register("bob").await);
    let room = deployment.group(&ann, &[&bob]).await;
    let mut bobs = deployment.joined(1, &bob, &room, Codec::MsgPack).await;
    let mut anns = deployment.joined(0, &ann, &room, Codec::Json).await;
    let sent = ws_send(&mut anns, &room, "lunch?").await;

    let react = json!({"type": "react", "room": room, "message_id": sent["id"], "emoji": "👍"});
    let reacted = bobs.request(react).await.unwrap();
    assert_eq!(reacted["ok"], true, "{reacted}");
    assert_eq!(counts(&reacted["message"]), [tally("👍", 1, true)]);
    let live = next_of(&mut anns, "reaction").await;
    assert_eq!(
        (
            &live["room"],
            &live["by"],
            &live["message_id"],
            &live["message_seq"],
            &live["emoji"],
            &live["added"]
        ),
        (&json!(room), &json!(bob.id), &sent["id"], &sent["seq"], &json!("👍"), &json!(true)),
        "{live}"
    );
    assert_eq!(live["seq"], reacted["message"]["reactions_seq"]);
    assert_eq!(next_of(&mut bobs, "reaction").await, live, "the reactor's own sockets get it too");

    let path = format!("/rooms/{room}/messages/{}/reactions/👍", sent["seq"]);
    let put = deployment.call(1, "PUT", &path, Some(&ann.access), None).await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    assert_eq!(counts(&put.body), [tally("👍", 2, true)]);
    let live = next_of(&mut bobs, "reaction").await;
    assert_eq!((&live["by"], &live["added"]), (&json!(ann.id), &json!(true)), "{live}");
    let flag =
        format!("/rooms/{room}/messages/{}/reactions/%F0%9F%87%AB%F0%9F%87%B7", sent["id"].as_str().unwrap());
    assert_eq!(deployment.call(0, "PUT", &flag, Some(&bob.access), None).await.status, 200);

    for node in [0, 1] {
        let seen_by_ann = history(deployment, node, &ann, &room).await;
        assert_eq!(counts(&seen_by_ann[0]), [tally("👍", 2, true), tally("🇫🇷", 1, false)]);
        let seen_by_bob = history(deployment, node, &bob, &room).await;
        assert_eq!(counts(&seen_by_bob[0]), [tally("👍", 2, true), tally("🇫🇷", 1, true)]);
    }

    let removed = deployment.call(0, "DELETE", &path, Some(&ann.access), None).await;
    assert_eq!(removed.status, 200, "{:?}", removed.body);
    assert_eq!(counts(&removed.body), [tally("👍", 1, false), tally("🇫🇷", 1, false)]);
    let live = next_of(&mut bobs, "reaction").await;
    let live = if live["emoji"] == "🇫🇷" { next_of(&mut bobs, "reaction").await } else { live };
    assert_eq!((&live["emoji"], &live["added"]), (&json!("👍"), &json!(false)), "{live}");
    let unreact = json!({"type": "unreact", "room": room, "seq": sent["seq"], "emoji": "🇫🇷"});
    let unreacted = bobs.request(unreact).await.unwrap();
    assert_eq!(counts(&unreacted["message"]), [tally("👍", 1, true)], "{unreacted}");
    assert_eq!(counts(&history(deployment, 1, &ann, &room).await[0]), [tally("👍", 1, false)]);
}

async fn a_resume_with_since_gets_the_missed_reactions_in_order(deployment: &Deployment) {
    let (ann, bob) = (deployment.register("ann").await, deployment.register("bob").await);
    let room = deployment.group(&ann, &[&bob]).await;
    let mut anns = deployment.joined(0, &ann, &room, Codec::Json).await;
    let held = ws_send(&mut anns, &room, "held").await;
    let mut bobs = deployment.joined(1, &bob, &room, Codec::Json).await;
    let react = |seq: &Value, emoji: &str, kind: &str| json!({"type": kind, "room": room, "seq": seq, "emoji": emoji});
    let on_held = bobs.request(react(&held["seq"], "👀", "react")).await.unwrap();
    let missed = ws_send(&mut anns, &room, "missed").await;
    let on_missed = bobs.request(react(&missed["seq"], "✅", "react")).await.unwrap();
    let off_held = bobs.request(react(&held["seq"], "👀", "unreact")).await.unwrap();
    assert!([&on_held, &on_missed, &off_held].iter().all(|r| r["ok"] == true));

    let mut fresh =
        WsClient::connect(deployment.node(1).addr, Some(&ann.access), Codec::MsgPack).await.unwrap();
    let resumed = fresh.request(json!({"type": "join", "room": room, "since": held["seq"]})).await.unwrap();
    assert_eq!(resumed["ok"], true, "{resumed}");
    let changes = resumed["changes"].as_array().unwrap();
    let seen: Vec<(&str, &str, bool)> = changes
        .iter()
        .map(|c| (c["type"].as_str().unwrap(), c["emoji"].as_str().unwrap(), c["added"] == true))
        .collect();
    assert_eq!(seen, [("reaction", "👀", true), ("reaction", "✅", true), ("reaction", "👀", false)]);
    let seqs: Vec<u64> = changes.iter().map(|c| c["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(seqs[0] < missed["seq"].as_u64().unwrap() && missed["seq"].as_u64().unwrap() < seqs[1]);
    let messages = resumed["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(counts(&messages[0]), [tally("✅", 1, false)]);
    assert_eq!(messages[0]["reactions_seq"], on_missed["message"]["reactions_seq"]);
}

async fn repeated_and_concurrent_reactions_are_stored_once(deployment: &Deployment) {
    let (ann, bob) = (deployment.register("ann").await, deployment.register("bob").await);
    let room = deployment.group(&ann, &[&bob]).await;
    let mut bobs = deployment.joined(1, &bob, &room, Codec::Json).await;
    let mut anns = deployment.joined(0, &ann, &room, Codec::Json).await;
    let sent = ws_send(&mut anns, &room, "party").await;
    let path = format!("/rooms/{room}/messages/{}/reactions/🎉", sent["seq"]);
    // The same reaction from two devices on two nodes at once, several times over.
    let attempts = (0..8).map(|n| deployment.call(n % 2, "PUT", &path, Some(&ann.access), None));
    for answer in futures::future::join_all(attempts).await {
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        assert_eq!(counts(&answer.body), [tally("🎉", 1, true)]);
    }
    let again = anns.request(json!({"type": "react", "room": room, "seq": sent["seq"], "emoji": "🎉"})).await;
    assert_eq!(counts(&again.unwrap()["message"]), [tally("🎉", 1, true)]);
    for _ in 0..2 {
        let removed = deployment.call(1, "DELETE", &path, Some(&ann.access), None).await;
        assert_eq!((removed.status, counts(&removed.body)), (200, vec![]), "{:?}", removed.body);
    }
    let marker = ws_send(&mut anns, &room, "marker").await;
    let frames = reactions_before(&mut bobs, &marker).await;
    let added: Vec<bool> = frames.iter().map(|f| f["added"] == true).collect();
    assert_eq!(added, [true, false], "one addition and one removal delivered: {frames:?}");
    assert!(history(deployment, 0, &bob, &room).await[0].get("reactions").is_none());
}

async fn refused_reactions_store_nothing(deployment: &Deployment) {
    let (ann, bob, eve) = (
        deployment.register("ann").await,
        deployment.register("bob").await,
        deployment.register("eve").await,
    );
    let room = deployment.group(&ann, &[&bob]).await;
    let elsewhere = deployment.group(&ann, &[]).await;
    let mut bobs = deployment.joined(1, &bob, &room, Codec::Json).await;
    let mut anns = deployment.joined(0, &ann, &room, Codec::Json).await;
    let sent = ws_send(&mut anns, &room, "original").await;
    let gone = ws_send(&mut anns, &room, "gone").await;
    let deleted = anns.request(json!({"type": "delete", "room": room, "seq": gone["seq"]})).await.unwrap();
    assert_eq!(deleted["ok"], true, "{deleted}");
    let id = sent["id"].as_str().unwrap();
    let on = |message: &str, emoji: &str| format!("/rooms/{room}/messages/{message}/reactions/{emoji}");
    let long_emoji = "😀".repeat(17);
    let huge_emoji = "x".repeat(4000);

    // Method, path, token, and the status, code and field expected.
    type Case<'a> = (&'a str, String, Option<&'a str>, u16, &'a str, Option<&'a str>);
    let cases: Vec<Case> = vec![
        ("PUT", on(id, "👍"), Some(&eve.access), 403, "forbidden", None),
        ("DELETE", on(id, "👍"), Some(&eve.access), 403, "forbidden", None),
        ("PUT", on(id, "👍"), None, 401, "unauthorized", None),
        ("PUT", on(id, "👍"), Some("not-a-token"), 401, "unauthorized", None),
        ("PUT", on("999999", "👍"), Some(&bob.access), 404, "not_found", None),
        ("PUT", on(gone["id"].as_str().unwrap(), "👍"), Some(&bob.access), 404, "not_found", None),
        (
            "PUT",
            format!("/rooms/{elsewhere}/messages/{id}/reactions/👍"),
            Some(&ann.access),
            404,
            "not_found",
            None,
        ),
        ("PUT", on("abc", "👍"), Some(&bob.access), 400, "invalid_input", Some("message")),
        ("PUT", on(id, "a%20b"), Some(&bob.access), 400, "invalid_input", Some("emoji")),
        ("PUT", on(id, "%0A"), Some(&bob.access), 400, "invalid_input", Some("emoji")),
        ("PUT", on(id, "%E2%80%AE%F0%9F%91%8D"), Some(&bob.access), 400, "invalid_input", Some("emoji")),
        ("PUT", on(id, "%E2%80%8B"), Some(&bob.access), 400, "invalid_input", Some("emoji")),
        ("PUT", on(id, "🎉🎉🎉🎉🎉"), Some(&bob.access), 400, "invalid_input", Some("emoji")),
        ("PUT", on(id, &long_emoji), Some(&bob.access), 400, "invalid_input", Some("emoji")),
        ("PUT", on(id, &huge_emoji), Some(&bob.access), 400, "invalid_input", Some("emoji")),
        ("PUT", on(id, "%FF"), Some(&bob.access), 400, "invalid_input", None),
        ("POST", on(id, "👍"), Some(&bob.access), 405, "method_not_allowed", None),
    ];
    for (method, path, token, status, code, field) in cases {
        let answer = deployment.call(1, method, &path, token, None).await;
        assert_eq!(
            (answer.status, answer.code()),
            (status, Some(code)),
            "{method} {path}: {:?}",
            answer.body
        );
        if let Some(field) = field {
            assert!(answer.body["error"]["fields"][field].is_string(), "{path}: {:?}", answer.body);
        }
    }

    let ws_refusals = [
        (json!({"type": "react", "room": room, "seq": sent["seq"]}), "invalid_input"),
        (json!({"type": "react", "room": room, "seq": sent["seq"], "emoji": 7}), "invalid_input"),
        (json!({"type": "react", "room": room, "seq": sent["seq"], "emoji": ["👍"]}), "invalid_input"),
        (json!({"type": "unreact", "room": room, "emoji": "👍"}), "invalid_input"),
        (json!({"type": "react", "room": room, "seq": sent["seq"], "emoji": huge_emoji}), "invalid_input"),
        (json!({"type": "react", "room": room, "message_id": gone["id"], "emoji": "👍"}), "not_found"),
        (json!({"type": "react", "room": elsewhere, "message_id": id, "emoji": "👍"}), "not_found"),
    ];
    for (frame, code) in ws_refusals {
        let reply = anns.request(frame.clone()).await.unwrap();
        assert_eq!(
            (reply["ok"].clone(), reply["error"]["code"].clone()),
            (json!(false), json!(code)),
            "{frame}: {reply}"
        );
    }
    let mut eves = WsClient::connect(deployment.node(0).addr, Some(&eve.access), Codec::Json).await.unwrap();
    let outsider =
        eves.request(json!({"type": "react", "room": room, "message_id": id, "emoji": "👍"})).await.unwrap();
    assert_eq!(outsider["error"]["code"], "forbidden", "{outsider}");

    let marker = ws_send(&mut anns, &room, "marker").await;
    assert!(reactions_before(&mut bobs, &marker).await.is_empty(), "no reaction was delivered");
    assert!(history(deployment, 0, &ann, &room).await.iter().all(|m| m.get("reactions").is_none()));
}
