//! The user directory (`GET /users?query=`) and naming members by username: found by the start
//! of a username or display name in any case, paged without repeats or skips, every character
//! literal, every malformed parameter named, limited per user; rooms and members by username.

use chat_tests::embedded::{DataDir, EmbeddedApp};
use chat_tests::{Account, Answer, TestApp};
use serde_json::{Value, json};

/// `GET /users` with `params`, each percent-encoded as a browser would.
async fn search(app: &TestApp, who: &Account, params: &[(&str, &str)]) -> Answer {
    app.call("GET", &directory_path(params), Some(&who.access), None).await
}

fn directory_path(params: &[(&str, &str)]) -> String {
    let url = reqwest::Url::parse_with_params("http://node/users", params).unwrap();
    match url.query() {
        Some(query) => format!("/users?{query}"),
        None => "/users".to_owned(),
    }
}

async fn post(app: &TestApp, who: &Account, path: &str, body: Value) -> Answer {
    app.call("POST", path, Some(&who.access), Some(body)).await
}

fn usernames(answer: &Answer) -> Vec<String> {
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect()
}

async fn rename(app: &TestApp, who: &Account, name: &str) {
    let renamed =
        app.call("PATCH", "/users/me", Some(&who.access), Some(json!({"display_name": name}))).await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
}

/// The answer is `400 invalid_input` naming exactly `fields`.
fn assert_invalid(answer: &Answer, fields: &[&str]) {
    assert_eq!((answer.status, answer.code()), (400, Some("invalid_input")), "{:?}", answer.body);
    let named: Vec<&str> =
        answer.body["error"]["fields"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(named, fields, "{:?}", answer.body);
}

#[tokio::test]
async fn users_are_found_by_the_start_of_their_username_or_display_name_in_any_case() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("dirA_Ann").await;
    let bob = app.register("dira_bob").await;
    let cid = app.register("cid_dira").await;
    rename(&app, &cid, "Dira Cid").await;
    let eve = app.register("eve_dira").await;
    rename(&app, &eve, "Élodie Dira").await;
    let found = search(&app, &bob, &[("query", "DIRA")]).await;
    assert_eq!(usernames(&found), ["cid_dira", "dirA_Ann", "dira_bob"], "ordered by username");
    assert_eq!(found.body["next"], Value::Null);
    let user = &found.body["users"][1];
    assert_eq!(
        (user["id"].as_str(), user["display_name"].as_str()),
        (Some(ann.id.as_str()), Some("dirA_Ann"))
    );
    assert_eq!(user.as_object().unwrap().len(), 4, "a User, nothing more: {user:?}");
    assert_eq!(usernames(&search(&app, &ann, &[("query", "dira c")]).await), ["cid_dira"]);
    // PostgreSQL lower-cases display names beyond ASCII (the database's locale is UTF-8).
    assert_eq!(usernames(&search(&app, &ann, &[("query", "éLODIE")]).await), ["eve_dira"]);
    assert!(usernames(&search(&app, &ann, &[("query", "ira")]).await).is_empty(), "the start only");
    // The caller is listed like anyone else.
    assert_eq!(usernames(&search(&app, &ann, &[("query", "dira_a")]).await), ["dirA_Ann"]);
}

#[tokio::test]
async fn pages_of_a_search_neither_repeat_nor_skip_anyone() {
    let app = TestApp::spawn().await.unwrap();
    let mut expected = Vec::new();
    for i in 0..25 {
        // Mixed case, so the order is the case-insensitive one.
        let name = if i % 3 == 0 { format!("PAGE{i:02}") } else { format!("page{i:02}") };
        app.register(&name).await;
        expected.push(name);
    }
    let outsider = app.register("other").await;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut params = vec![("query", "Page"), ("limit", "10")];
        if let Some(after) = after.as_deref() {
            params.push(("after", after));
        }
        let page = search(&app, &outsider, &params).await;
        let names = usernames(&page);
        assert!(names.len() <= 10);
        seen.extend(names);
        pages += 1;
        match page.body["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!((seen, pages), (expected, 3));
    let default = search(&app, &outsider, &[("query", "page")]).await;
    assert_eq!(usernames(&default).len(), 20, "20 by default");
    assert!(default.body["next"].is_string());
    let widest = search(&app, &outsider, &[("query", "p"), ("limit", "50")]).await;
    assert_eq!((usernames(&widest).len(), &widest.body["next"]), (25, &Value::Null));
}

#[tokio::test]
async fn percent_underscore_and_backslash_in_a_query_match_literally() {
    let app = TestApp::spawn().await.unwrap();
    let pct = app.register("lit_pct").await;
    rename(&app, &pct, "100% lit").await;
    let slash = app.register("lit_slash").await;
    rename(&app, &slash, r"a\b lit").await;
    let under = app.register("lit_x").await;
    for (query, found) in [
        ("100%", vec!["lit_pct"]),
        ("1%", vec![]),
        ("%", vec![]),
        (r"a\b", vec!["lit_slash"]),
        (r"a\", vec!["lit_slash"]),
        (r"a\\", vec![]),
        ("lit_", vec!["lit_pct", "lit_slash", "lit_x"]),
        ("li_", vec![]),
        ("_", vec![]),
        ("'; drop table users; --", vec![]),
    ] {
        assert_eq!(usernames(&search(&app, &under, &[("query", query)]).await), found, "{query:?}");
    }
}

#[tokio::test]
async fn a_malformed_search_is_refused_naming_the_parameter() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("bad_ann").await;
    let long = "x".repeat(65);
    for (params, fields) in [
        (vec![], vec!["query"]),
        (vec![("limit", "5")], vec!["query"]),
        (vec![("query", "")], vec!["query"]),
        (vec![("query", long.as_str())], vec!["query"]),
        (vec![("query", "bad\nann")], vec!["query"]),
        (vec![("query", "bad\u{0}")], vec!["query"]),
        (vec![("query", "\u{7F}")], vec!["query"]),
        (vec![("query", "bad"), ("limit", "0")], vec!["limit"]),
        (vec![("query", "bad"), ("limit", "51")], vec!["limit"]),
        (vec![("query", "bad"), ("limit", "x")], vec!["limit"]),
        (vec![("query", "bad"), ("limit", "-1")], vec!["limit"]),
        (vec![("query", "bad"), ("limit", "99999999999999999999999")], vec!["limit"]),
        (vec![("query", "bad"), ("after", "")], vec!["after"]),
        (vec![("query", "bad"), ("after", "not a cursor")], vec!["after"]),
        (vec![("query", "bad"), ("after", "' or 1=1 --")], vec!["after"]),
        (vec![("query", ""), ("limit", "0"), ("after", "%%")], vec!["after", "limit", "query"]),
    ] {
        assert_invalid(&search(&app, &ann, &params).await, &fields);
    }
    // 64 characters, counted as people count them, are fine.
    assert_eq!(search(&app, &ann, &[("query", &"é".repeat(64))]).await.status, 200);
    // Bytes that are not UTF-8 arrive as replacement characters: a query like any other.
    let raw = app.call("GET", "/users?query=%FF%FE", Some(&ann.access), None).await;
    assert_eq!(raw.status, 200, "{:?}", raw.body);
}

#[tokio::test]
async fn searching_the_directory_takes_a_valid_token() {
    let app = TestApp::spawn().await.unwrap();
    app.register("tok_ann").await;
    let anonymous = app.call("GET", "/users?query=tok", None, None).await;
    assert_eq!((anonymous.status, anonymous.code()), (401, Some("unauthorized")));
    let forged = app.call("GET", "/users?query=tok", Some("not.a.token"), None).await;
    assert_eq!((forged.status, forged.code()), (401, Some("unauthorized")));
    // Without a token even a malformed search says only 401.
    assert_eq!(app.call("GET", "/users", None, None).await.status, 401);
    let wrong_method = app.call("DELETE", "/users", None, None).await;
    assert_eq!(wrong_method.status, 405);
}

#[tokio::test]
async fn searches_past_the_per_user_limit_are_refused_with_retry_after() {
    let app = TestApp::spawn_with(&["--search-limit-per-user", "2/1h"]).await.unwrap();
    let (ann, bob) = (app.register("lim_ann").await, app.register("lim_bob").await);
    // Refused input is not counted.
    assert_eq!(search(&app, &ann, &[("query", "")]).await.status, 400);
    assert_eq!(search(&app, &ann, &[("query", "lim")]).await.status, 200);
    assert_eq!(search(&app, &ann, &[("query", "lim"), ("limit", "1")]).await.status, 200);
    let refused = search(&app, &ann, &[("query", "lim")]).await;
    assert_eq!((refused.status, refused.code()), (429, Some("rate_limited")), "{:?}", refused.body);
    let wait: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert_eq!(wait, 1800, "one interval of 2/1h");
    // Bob's quota is his own.
    assert_eq!(search(&app, &bob, &[("query", "lim")]).await.status, 200);
    let metrics = app.http.get(app.node.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let counted = metrics
        .lines()
        .any(|line| line.starts_with("chat_rate_limited_total{") && line.contains(r#"limit="search_user""#));
    assert!(counted, "{metrics}");
}

#[tokio::test]
async fn a_room_is_created_with_members_named_by_username_and_by_id() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("mem_ann").await;
    let (bob, cid, dan) =
        (app.register("Mem_Bob").await, app.register("mem_cid").await, app.register("mem_dan").await);
    let body = json!({
        "name": "team",
        "type": "group",
        "member_ids": [dan.id, bob.id],
        "member_usernames": ["MEM_BOB", "mem_cid", "mem_ann", "mem_Cid"],
    });
    let created = app.call("POST", "/rooms", Some(&ann.access), Some(body)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let room = created.body["id"].as_str().unwrap();
    let members = app.call("GET", &format!("/rooms/{room}/members"), Some(&ann.access), None).await;
    let mut ids: Vec<&str> =
        members.body["members"].as_array().unwrap().iter().map(|m| m["user_id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    let mut expected = vec![ann.id.as_str(), bob.id.as_str(), cid.id.as_str(), dan.id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected, "merged, each once, the creator as owner");
}

#[tokio::test]
async fn unknown_or_malformed_member_usernames_are_refused_naming_them() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("unk_ann").await;
    app.register("unk_bob").await;
    let create = |names: Value| {
        app.call(
            "POST",
            "/rooms",
            Some(&ann.access),
            Some(json!({"name": "x", "type": "group", "member_usernames": names})),
        )
    };
    let unknown = create(json!(["unk_bob", "unk_ghost"])).await;
    assert_invalid(&unknown, &["member_usernames"]);
    assert!(unknown.body["error"]["fields"]["member_usernames"].as_str().unwrap().contains("unk_ghost"));
    let malformed = create(json!(["unk bob"])).await;
    assert_invalid(&malformed, &["member_usernames"]);
    assert_invalid(&create(json!("unk_bob")).await, &["member_usernames"]);
    assert_invalid(&create(json!([7])).await, &["member_usernames[0]"]);
    let too_many: Vec<String> = (0..1001).map(|i| format!("unk{i}")).collect();
    assert_invalid(&create(json!(too_many)).await, &["member_usernames"]);
    let direct = app
        .call(
            "POST",
            "/rooms",
            Some(&ann.access),
            Some(json!({"type": "direct", "member_usernames": ["unk_ghost"]})),
        )
        .await;
    assert_invalid(&direct, &["member_usernames"]);
    let rooms = app.call("GET", "/rooms", Some(&ann.access), None).await;
    assert!(rooms.body["rooms"].as_array().unwrap().is_empty(), "nothing was created");
    let anonymous = app
        .call("POST", "/rooms", None, Some(json!({"type": "direct", "member_usernames": ["unk_bob"]})))
        .await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn a_member_is_added_by_username() {
    let app = TestApp::spawn().await.unwrap();
    let (ann, bob, eve) =
        (app.register("add_ann").await, app.register("add_bob").await, app.register("add_eve").await);
    let room = app.create_room(&ann, "group", &[]).await;
    let path = format!("/rooms/{room}/members");
    let added = post(&app, &ann, &path, json!({"username": "ADD_BOB"})).await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    assert_eq!(
        (added.body["user_id"].as_str(), added.body["role"].as_str()),
        (Some(bob.id.as_str()), Some("member"))
    );
    assert_eq!(post(&app, &ann, &path, json!({"username": "add_bob"})).await.status, 200, "already a member");
    let admin = post(&app, &ann, &path, json!({"username": "add_eve", "role": "admin"})).await;
    assert_eq!((admin.status, admin.body["role"].as_str()), (201, Some("admin")));
    let ghost = post(&app, &ann, &path, json!({"username": "add_ghost"})).await;
    assert_eq!((ghost.status, ghost.code()), (404, Some("not_found")), "{:?}", ghost.body);
    assert_eq!(ghost.body["error"]["message"], "user not found");
    assert_invalid(
        &post(&app, &ann, &path, json!({"username": "add_bob", "user_id": bob.id})).await,
        &["user_id", "username"],
    );
    assert_invalid(&post(&app, &ann, &path, json!({})).await, &["user_id", "username"]);
    assert_invalid(&post(&app, &ann, &path, json!({"role": "admin"})).await, &["user_id", "username"]);
    assert_invalid(&post(&app, &ann, &path, json!({"username": "no such name!"})).await, &["username"]);
    assert_invalid(&post(&app, &ann, &path, json!({"username": ["add_bob"]})).await, &["username"]);
    assert_invalid(
        &post(&app, &ann, &path, json!({"username": "add_bob", "role": "owner"})).await,
        &["role"],
    );
    // Naming a user by username gives no more right than naming them by id.
    let outsider = app.register("add_out").await;
    let refused = post(&app, &outsider, &path, json!({"username": "add_out"})).await;
    assert_eq!((refused.status, refused.code()), (403, Some("forbidden")));
    let _ = eve;
    assert_eq!(app.call("POST", &path, None, Some(json!({"username": "add_bob"}))).await.status, 401);
}

#[tokio::test]
async fn a_direct_room_started_by_username_is_the_same_room_both_ways() {
    let app = TestApp::spawn().await.unwrap();
    let (ann, bob) = (app.register("dm_Ann").await, app.register("dm_bob").await);
    let first = post(&app, &ann, "/rooms", json!({"type": "direct", "member_usernames": ["DM_BOB"]})).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let back = post(&app, &bob, "/rooms", json!({"type": "direct", "member_usernames": ["dm_ann"]})).await;
    assert_eq!((back.status, &back.body["id"]), (200, &first.body["id"]));
    let by_id = post(&app, &bob, "/rooms", json!({"type": "direct", "member_ids": [ann.id]})).await;
    assert_eq!((by_id.status, &by_id.body["id"]), (200, &first.body["id"]));
    // The same person named both ways is one member; two people are too many for a direct room.
    let both = post(
        &app,
        &ann,
        "/rooms",
        json!({"type": "direct", "member_ids": [bob.id], "member_usernames": ["dm_bob"]}),
    )
    .await;
    assert_eq!((both.status, &both.body["id"]), (200, &first.body["id"]));
    let cid = app.register("dm_cid").await;
    let two = post(
        &app,
        &ann,
        "/rooms",
        json!({"type": "direct", "member_ids": [cid.id], "member_usernames": ["dm_bob"]}),
    )
    .await;
    assert_invalid(&two, &["member_ids"]);
    let themselves =
        post(&app, &ann, "/rooms", json!({"type": "direct", "member_usernames": ["dm_ann"]})).await;
    assert_invalid(&themselves, &["member_ids"]);
}

#[tokio::test]
async fn an_embedded_node_finds_people_by_name_and_starts_direct_rooms_by_username() {
    let dir = DataDir::new();
    let app = EmbeddedApp::spawn(&dir).await.unwrap();
    let (ann, bob) = (app.register("emb_Ann").await, app.register("emb_bob").await);
    let renamed =
        app.call("PATCH", "/users/me", Some(&bob.access), Some(json!({"display_name": "Bobby 50%"}))).await;
    assert_eq!(renamed.status, 200);
    let found = app.call("GET", &directory_path(&[("query", "BOBBY 50%")]), Some(&ann.access), None).await;
    assert_eq!(usernames(&found), ["emb_bob"]);
    let found =
        app.call("GET", &directory_path(&[("query", "EMB"), ("limit", "1")]), Some(&bob.access), None).await;
    assert_eq!(usernames(&found), ["emb_Ann"]);
    let next = found.body["next"].as_str().unwrap().to_owned();
    let rest = app
        .call("GET", &directory_path(&[("query", "emb"), ("after", &next)]), Some(&bob.access), None)
        .await;
    assert_eq!((usernames(&rest), &rest.body["next"]), (vec!["emb_bob".to_owned()], &Value::Null));
    assert_invalid(&app.call("GET", "/users?query=", Some(&ann.access), None).await, &["query"]);

    let direct = json!({"type": "direct", "member_usernames": ["EMB_BOB"]});
    let first = app.call("POST", "/rooms", Some(&ann.access), Some(direct)).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let back = json!({"type": "direct", "member_usernames": ["emb_ann"]});
    let again = app.call("POST", "/rooms", Some(&bob.access), Some(back)).await;
    assert_eq!((again.status, &again.body["id"]), (200, &first.body["id"]));
}
