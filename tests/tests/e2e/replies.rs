//! Replies and threads, in a cluster (two nodes and a persister) and embedded: quotes live on
//! every node and in every read, following their parent's edits and deletion; thread pages
//! over REST and both WebSocket codecs; reply counts; and the refusals.

use chat_tests::Account;
use chat_tests::ws::{Codec, WsClient};
use serde_json::{Value, json};

use crate::deployment::{Deployment, WAIT, history, in_both_modes, next_of, ws_send};

in_both_modes!(
    a_reply_arrives_live_on_the_other_node_with_a_quote_that_follows_its_parent,
    a_thread_pages_over_rest_and_both_codecs,
    replies_and_threads_refuse_what_they_must,
);

async fn ws_reply(client: &mut WsClient, room: &str, content: &str, parent: &Value) -> Value {
    let frame = json!({"type": "send", "room": room, "content": content, "reply_to": parent["id"]});
    let reply = client.request(frame).await.unwrap();
    assert_eq!(reply["ok"], true, "{reply}");
    reply["message"].clone()
}

fn quote(message: &Value) -> (Value, Value, bool) {
    let reply_to = &message["reply_to"];
    (reply_to["id"].clone(), reply_to["content"].clone(), reply_to["deleted"] == true)
}

async fn thread(deployment: &Deployment, node: usize, who: &Account, room: &str, query: &str) -> Value {
    let path = format!("/rooms/{room}/messages/{query}");
    let answer = deployment.call(node, "GET", &path, Some(&who.access), None).await;
    assert_eq!(answer.status, 200, "{path}: {:?}", answer.body);
    answer.body
}

fn by_id<'a>(messages: &'a [Value], id: &Value) -> &'a Value {
    messages.iter().find(|m| &m["id"] == id).unwrap_or_else(|| panic!("{id} is not in {messages:?}"))
}

async fn a_reply_arrives_live_on_the_other_node_with_a_quote_that_follows_its_parent(
    deployment: &Deployment,
) {
    let (ann, bob) = (deployment.register("ann").await, deployment.register("bob").await);
    let room = deployment.group(&ann, &[&bob]).await;
    let mut bobs = deployment.joined(1, &bob, &room, Codec::MsgPack).await;
    let mut anns = deployment.joined(0, &ann, &room, Codec::Json).await;
    let long = "é".repeat(150);
    let parent = ws_send(&mut anns, &room, &long).await;
    let before_replies = parent["seq"].as_u64().unwrap();

    let first = ws_reply(&mut anns, &room, "agreed", &parent).await;
    let hundred = json!("é".repeat(100));
    assert_eq!(quote(&first), (parent["id"].clone(), hundred.clone(), false));
    assert_eq!(
        (first["reply_to"]["seq"].clone(), first["reply_to"]["sender_id"].clone()),
        (parent["seq"].clone(), json!(ann.id))
    );
    let live = next_of(&mut bobs, "message").await;
    let live = if live["message"]["id"] == parent["id"] { next_of(&mut bobs, "message").await } else { live };
    assert_eq!(live["message"], first, "the live reply carries the same quote");

    // The parent's edit shows in every read, and in the next live reply.
    let edit = json!({"type": "edit", "room": room, "message_id": parent["id"], "content": "edited topic"});
    assert_eq!(anns.request(edit).await.unwrap()["ok"], true);
    let second = ws_reply(&mut anns, &room, "still agreed", &parent).await;
    let live = next_of(&mut bobs, "message").await;
    assert_eq!(quote(&live["message"]), (parent["id"].clone(), json!("edited topic"), false));
    assert_eq!(live["message"]["id"], second["id"]);
    for node in [0, 1] {
        let page = history(deployment, node, &bob, &room).await;
        assert_eq!(by_id(&page, &parent["id"])["reply_count"], 2, "{page:?}");
        assert_eq!(quote(by_id(&page, &first["id"])).1, "edited topic");
        let replies = thread(deployment, node, &bob, &room, &format!("{}/thread", parent["seq"])).await;
        assert_eq!(quote(&replies["messages"][0]).1, "edited topic", "{replies}");
    }

    // Deleted, the parent is quoted as nothing, everywhere, and takes no new replies.
    let path = format!("/rooms/{room}/messages/{}", parent["id"].as_str().unwrap());
    assert_eq!(deployment.call(0, "DELETE", &path, Some(&ann.access), None).await.status, 200);
    for node in [0, 1] {
        let page = history(deployment, node, &bob, &room).await;
        for reply in [&first, &second] {
            assert_eq!(quote(by_id(&page, &reply["id"])), (parent["id"].clone(), json!(""), true));
        }
        let replies =
            thread(deployment, node, &bob, &room, &format!("{}/thread", parent["id"].as_str().unwrap()))
                .await;
        assert_eq!(replies["messages"].as_array().unwrap().len(), 2, "a deleted message keeps its thread");
        assert_eq!(quote(&replies["messages"][1]), (parent["id"].clone(), json!(""), true));
    }
    let refused = anns
        .request(json!({"type": "send", "room": room, "content": "late", "reply_to": parent["id"]}))
        .await
        .unwrap();
    assert!(refused["error"]["fields"]["reply_to"].is_string(), "{refused}");

    // A resume carries the quotes as they stand, and not the deleted text.
    let mut later = WsClient::connect(deployment.node(1).addr, Some(&bob.access), Codec::Json).await.unwrap();
    let resumed =
        later.request(json!({"type": "join", "room": room, "since": before_replies})).await.unwrap();
    let missed = resumed["messages"].as_array().unwrap();
    assert_eq!(missed.len(), 2, "{resumed}");
    assert!(missed.iter().all(|m| quote(m) == (parent["id"].clone(), json!(""), true)), "{resumed}");
    assert!(!resumed.to_string().contains("é"), "the deleted text came back: {resumed}");
}

async fn a_thread_pages_over_rest_and_both_codecs(deployment: &Deployment) {
    let (ann, bob) = (deployment.register("ann").await, deployment.register("bob").await);
    let room = deployment.group(&ann, &[&bob]).await;
    let mut anns = deployment.joined(0, &ann, &room, Codec::Json).await;
    let parent = ws_send(&mut anns, &room, "topic").await;
    let mut replies = Vec::new();
    for i in 0..5 {
        replies.push(ws_reply(&mut anns, &room, &format!("r{i}"), &parent).await);
        ws_send(&mut anns, &room, "unrelated").await;
    }
    let nested = ws_reply(&mut anns, &room, "deeper", &replies[0]).await;
    let contents = |page: &Value| -> Vec<String> {
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect()
    };

    let seq = parent["seq"].as_u64().unwrap();
    let first = thread(deployment, 1, &bob, &room, &format!("{seq}/thread?limit=2")).await;
    assert_eq!((contents(&first), first["has_more"].clone()), (vec!["r0".into(), "r1".into()], json!(true)));
    assert_eq!(first["messages"][0]["reply_count"], 1, "a reply's own replies are counted");
    let after = first["messages"][1]["seq"].as_u64().unwrap();
    let rest = thread(deployment, 1, &bob, &room, &format!("{seq}/thread?after={after}&limit=200")).await;
    assert_eq!(
        (contents(&rest), rest["has_more"].clone()),
        (vec!["r2".into(), "r3".into(), "r4".into()], json!(false))
    );
    let deeper =
        thread(deployment, 0, &bob, &room, &format!("{}/thread", replies[0]["id"].as_str().unwrap())).await;
    assert_eq!(contents(&deeper), ["deeper"]);
    assert_eq!(deeper["messages"][0], nested);

    for codec in [Codec::Json, Codec::MsgPack] {
        let mut bobs = WsClient::connect(deployment.node(1).addr, Some(&bob.access), codec).await.unwrap();
        let page = bobs
            .request(json!({"type": "thread", "room": room, "message_id": parent["id"], "after": after, "limit": 2}))
            .await
            .unwrap();
        assert_eq!(
            (contents(&page), page["has_more"].clone()),
            (vec!["r2".into(), "r3".into()], json!(true)),
            "{page}"
        );
        assert_eq!(quote(&page["messages"][0]), (parent["id"].clone(), json!("topic"), false));
        let all = bobs.request(json!({"type": "thread", "room": room, "seq": seq})).await.unwrap();
        assert_eq!(contents(&all), ["r0", "r1", "r2", "r3", "r4"], "{all}");
    }
}

async fn replies_and_threads_refuse_what_they_must(deployment: &Deployment) {
    let (ann, bob, eve) = (
        deployment.register("ann").await,
        deployment.register("bob").await,
        deployment.register("eve").await,
    );
    let room = deployment.group(&ann, &[&bob]).await;
    let elsewhere = deployment.group(&ann, &[]).await;
    let mut anns = deployment.joined(0, &ann, &room, Codec::Json).await;
    let parent = ws_send(&mut anns, &room, "topic").await;
    let gone = ws_send(&mut anns, &room, "gone").await;
    assert_eq!(
        anns.request(json!({"type": "delete", "room": room, "seq": gone["seq"]})).await.unwrap()["ok"],
        true
    );
    let mut others = deployment.joined(0, &ann, &elsewhere, Codec::Json).await;
    let foreign = ws_send(&mut others, &elsewhere, "not here").await;

    let bad_parents = [
        json!("nope"),
        json!("x".repeat(10 * 1024)),
        json!(5),
        json!(["a"]),
        json!("0195f4e2-8a7c-7d3e-9b1a-00000000000a"),
        foreign["id"].clone(),
        gone["id"].clone(),
    ];
    let path = format!("/rooms/{room}/messages");
    for reply_to in &bad_parents {
        let body = json!({"content": "re", "reply_to": reply_to});
        let answer = deployment.call(1, "POST", &path, Some(&ann.access), Some(body)).await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, Some("invalid_input")),
            "{reply_to}: {:?}",
            answer.body
        );
        assert!(answer.body["error"]["fields"]["reply_to"].is_string(), "{:?}", answer.body);
        assert!(answer.body.to_string().len() < 1024, "the input is not echoed: {:?}", answer.body);
        for codec in [Codec::Json, Codec::MsgPack] {
            let mut client =
                WsClient::connect(deployment.node(0).addr, Some(&ann.access), codec).await.unwrap();
            let frame = json!({"type": "send", "room": room, "content": "re", "reply_to": reply_to});
            let reply = client.request(frame).await.unwrap();
            assert_eq!(reply["error"]["code"], "invalid_input", "{reply_to}: {reply}");
            assert!(reply["error"]["fields"]["reply_to"].is_string(), "{reply}");
        }
    }

    let seq = parent["seq"].as_u64().unwrap();
    let cases = [
        (format!("/rooms/{room}/messages/999999/thread"), &ann, 404, "not_found"),
        (
            format!("/rooms/{room}/messages/{}/thread", foreign["id"].as_str().unwrap()),
            &ann,
            404,
            "not_found",
        ),
        (format!("/rooms/{room}/messages/{seq}/thread"), &eve, 403, "forbidden"),
        (format!("/rooms/{room}/messages/abc/thread"), &ann, 400, "invalid_input"),
        (format!("/rooms/{room}/messages/{seq}/thread?limit=0"), &ann, 400, "invalid_input"),
        (format!("/rooms/{room}/messages/{seq}/thread?limit=201"), &ann, 400, "invalid_input"),
        (format!("/rooms/{room}/messages/{seq}/thread?after=-1"), &ann, 400, "invalid_input"),
    ];
    for (path, who, status, code) in cases {
        let answer = deployment.call(1, "GET", &path, Some(&who.access), None).await;
        assert_eq!((answer.status, answer.code()), (status, Some(code)), "{path}: {:?}", answer.body);
    }
    let limit = deployment
        .call(1, "GET", &format!("/rooms/{room}/messages/{seq}/thread?limit=0"), Some(&ann.access), None)
        .await;
    assert!(limit.body["error"]["fields"]["limit"].is_string(), "{:?}", limit.body);

    let ws_refusals = [
        (json!({"type": "thread", "room": room, "seq": seq, "limit": 0}), "invalid_input", Some("limit")),
        (json!({"type": "thread", "room": room, "seq": seq, "limit": 201}), "invalid_input", Some("limit")),
        (json!({"type": "thread", "room": room, "seq": seq, "after": -1}), "invalid_input", Some("after")),
        (json!({"type": "thread", "room": room}), "invalid_input", Some("message_id")),
        (json!({"type": "thread", "room": room, "message_id": 7}), "invalid_input", Some("message_id")),
        (json!({"type": "thread", "room": room, "seq": 999_999}), "not_found", None),
    ];
    for (frame, code, field) in ws_refusals {
        let reply = anns.request(frame.clone()).await.unwrap();
        assert_eq!(reply["error"]["code"], code, "{frame}: {reply}");
        if let Some(field) = field {
            assert!(reply["error"]["fields"][field].is_string(), "{frame}: {reply}");
        }
    }
    let mut eves =
        WsClient::connect(deployment.node(1).addr, Some(&eve.access), Codec::MsgPack).await.unwrap();
    let outsider = eves.request(json!({"type": "thread", "room": room, "seq": seq})).await.unwrap();
    assert_eq!(outsider["error"]["code"], "forbidden", "{outsider}");

    let page = history(deployment, 0, &ann, &room).await;
    assert!(page.iter().all(|m| m.get("reply_to").is_none() && m.get("reply_count").is_none()), "{page:?}");
}

/// How many rows of the test's PostgreSQL database match `condition`.
async fn rows(app: &chat_tests::TestApp, condition: &str) -> i64 {
    sqlx::query_scalar(&format!("select count(*) from messages where {condition}"))
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

/// Waits until `rows` matching `condition` are `expected`.
async fn until_rows(app: &chat_tests::TestApp, condition: &str, expected: i64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while rows(app, condition).await != expected {
        assert!(tokio::time::Instant::now() < deadline, "never {expected} rows where {condition}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_persisted_reply_keeps_only_its_parents_reference_and_quotes_it_from_postgresql() {
    let deployment = Deployment::cluster().await;
    let Deployment::Cluster { app, .. } = &deployment else { unreachable!() };
    let ann = deployment.register("ann").await;
    let room = deployment.group(&ann, &[]).await;
    let mut anns = deployment.joined(0, &ann, &room, Codec::Json).await;
    let parent = ws_send(&mut anns, &room, "TOPSECRET parent").await;
    let answer = ws_reply(&mut anns, &room, "answer", &parent).await;
    let (parent_seq, answer_seq) = (parent["seq"].as_u64().unwrap(), answer["seq"].as_u64().unwrap());

    until_rows(
        app,
        &format!(
            "seq = {answer_seq} and reply_to_seq = {parent_seq} and reply_to_id = '{}'",
            parent["id"].as_str().unwrap()
        ),
        1,
    )
    .await;
    assert_eq!(
        rows(app, "messages::text like '%TOPSECRET%'").await,
        1,
        "only the parent's row holds its text"
    );
    let page = history(&deployment, 1, &ann, &room).await;
    assert_eq!(page[0]["reply_count"], 1);
    assert_eq!(quote(&page[1]), (parent["id"].clone(), json!("TOPSECRET parent"), false));

    let deleted = anns.request(json!({"type": "delete", "room": room, "seq": parent_seq})).await.unwrap();
    assert_eq!(deleted["ok"], true, "{deleted}");
    until_rows(app, "messages::text like '%TOPSECRET%'", 0).await;
    let replies = thread(&deployment, 1, &ann, &room, &format!("{parent_seq}/thread")).await;
    assert_eq!(quote(&replies["messages"][0]), (parent["id"].clone(), json!(""), true));
    assert_eq!(replies["messages"][0]["id"], answer["id"]);
    let everything = format!("{replies} {:?}", history(&deployment, 0, &ann, &room).await);
    assert!(!everything.contains("TOPSECRET"), "{everything}");
}
