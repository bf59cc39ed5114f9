use chat_tests::{TestApp, TestDatabase, TestStream, node_args, start_node};

#[tokio::test]
async fn health_and_readiness_answer_while_postgres_is_reachable() {
    let app = TestApp::spawn().await.unwrap();
    assert_eq!(app.call("GET", "/healthz", None, None).await.status, 200);
    let ready = app.call("GET", "/readyz", None, None).await;
    assert_eq!(ready.status, 200, "{:?}", ready.body);
}

#[tokio::test]
async fn the_openapi_description_is_served_as_it_is_checked_in() {
    let app = TestApp::spawn().await.unwrap();
    let served = app.call("GET", "/openapi.json", None, None).await;
    assert_eq!(served.status, 200);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    let checked_in: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(served.body, checked_in);
    assert!(served.body["paths"]["/auth/login"]["post"].is_object());
}

#[tokio::test]
async fn metrics_count_requests_by_matched_route() {
    let app = TestApp::spawn().await.unwrap();
    let ann = app.register("ann").await;
    app.call("GET", &format!("/users/{}", ann.id), Some(&ann.access), None).await;
    let text = app.http.get(app.node.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains(r#"route="/users/{id}""#), "{text}");
    assert!(!text.contains(&ann.id), "ids must not become labels");
    assert!(text.contains("http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await.unwrap();
    let answer = app.call("GET", "/healthz", None, None).await;
    assert!(answer.headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn a_node_without_a_reachable_database_refuses_to_start_with_a_clear_error() {
    let db = TestDatabase::create().await.unwrap();
    let stream = TestStream::new();
    let mut args = node_args(&db, &stream, &[]);
    let at = args.iter().position(|a| a == "--database-url").unwrap();
    args[at + 1] = "postgres://postgres@127.0.0.1:1/none".into();
    let err = start_node(args).await.err().expect("migrations cannot run without a database");
    assert!(format!("{err:#}").contains("migrations"), "{err:#}");
}

#[tokio::test]
async fn a_node_stops_gracefully_when_asked() {
    let app = TestApp::spawn().await.unwrap();
    let TestApp { node, db, .. } = app;
    node.stop().await.unwrap();
    drop(db);
}

#[tokio::test]
async fn unknown_routes_answer_in_the_contract_shape() {
    let app = TestApp::spawn().await.unwrap();
    let answer = app.call("GET", "/nowhere", None, None).await;
    assert_eq!((answer.status, answer.code()), (404, Some("not_found")));
}
