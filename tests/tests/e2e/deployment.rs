//! What the scenarios of changing messages run against: a cluster (two nodes and a persister)
//! or the embedded node, and the steps they share.

use std::time::Duration;

use chat_tests::embedded::{DataDir, EmbeddedApp};
use chat_tests::ws::{Codec, WsClient};
use chat_tests::{Account, Answer, TestApp, TestNode, TestPersister};
use serde_json::{Value, json};

/// One deployment under test: node 0 and node 1 are two nodes of a cluster, or both the one
/// embedded process.
pub enum Deployment {
    Cluster { app: Box<TestApp>, second: TestNode, _persister: TestPersister },
    Embedded { app: EmbeddedApp, _dir: DataDir },
}

impl Deployment {
    pub async fn cluster() -> Self {
        let app = TestApp::spawn().await.unwrap();
        let second = app.add_node().await.unwrap();
        let persister = app.start_persister().await.unwrap();
        Deployment::Cluster { app: Box::new(app), second, _persister: persister }
    }

    pub async fn embedded() -> Self {
        let dir = DataDir::new();
        let app = EmbeddedApp::spawn(&dir).await.unwrap();
        Deployment::Embedded { app, _dir: dir }
    }

    pub fn node(&self, index: usize) -> &TestNode {
        match self {
            Deployment::Cluster { app, second, .. } => [&app.node, second][index],
            Deployment::Embedded { app, .. } => &app.node,
        }
    }

    pub async fn call(
        &self,
        node: usize,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        match self {
            Deployment::Cluster { app, .. } => app.call_on(self.node(node), method, path, token, body).await,
            Deployment::Embedded { app, .. } => app.call(method, path, token, body).await,
        }
    }

    pub async fn register(&self, name: &str) -> Account {
        match self {
            Deployment::Cluster { app, .. } => app.register(name).await,
            Deployment::Embedded { app, .. } => app.register(name).await,
        }
    }

    pub async fn group(&self, owner: &Account, members: &[&Account]) -> String {
        match self {
            Deployment::Cluster { app, .. } => app.create_room(owner, "group", members).await,
            Deployment::Embedded { app, .. } => app.create_room(owner, members).await,
        }
    }

    pub async fn joined(&self, node: usize, who: &Account, room: &str, codec: Codec) -> WsClient {
        let mut client = WsClient::connect(self.node(node).addr, Some(&who.access), codec).await.unwrap();
        let reply = client.request(json!({"type": "join", "room": room})).await.unwrap();
        assert_eq!(reply["ok"], true, "{reply}");
        client
    }
}

/// Both deployments run each scenario.
macro_rules! in_both_modes {
    ($($name:ident),+ $(,)?) => {
        mod cluster {
            $( #[tokio::test] async fn $name() { super::$name(&super::Deployment::cluster().await).await; } )+
        }
        mod embedded {
            $( #[tokio::test] async fn $name() { super::$name(&super::Deployment::embedded().await).await; } )+
        }
    };
}
pub(crate) use in_both_modes;

pub const WAIT: Duration = Duration::from_secs(10);

/// The next frame of `kind`, skipping others (presence, typing).
pub async fn next_of(client: &mut WsClient, kind: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame =
            client.next_frame(left).await.unwrap_or_else(|| panic!("no {kind} frame within {WAIT:?}"));
        if frame["type"] == kind {
            return frame;
        }
    }
}

pub async fn ws_send(client: &mut WsClient, room: &str, content: &str) -> Value {
    let reply = client.request(json!({"type": "send", "room": room, "content": content})).await.unwrap();
    assert_eq!(reply["ok"], true, "{reply}");
    reply["message"].clone()
}

pub async fn history(deployment: &Deployment, node: usize, who: &Account, room: &str) -> Vec<Value> {
    let answer =
        deployment.call(node, "GET", &format!("/rooms/{room}/messages"), Some(&who.access), None).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body["messages"].as_array().unwrap().clone()
}
