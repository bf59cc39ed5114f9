//! The `LoginAnnouncements` contract: core NATS in a cluster, memory when embedded.

use std::sync::Arc;
use std::time::Duration;

use chat_adapters::nats::{NatsLog, NatsLoginAnnouncements, StreamSettings};
use chat_shared::domain::{LoginId, UserId};
use chat_shared::memory::MemoryLoginAnnouncements;
use chat_shared::ports::{LoginAnnouncements, LoginEnded};
use chat_tests::{TestStream, nats_url};
use futures::StreamExt;

contract_tests!(Announced [nats, memory] [
    every_subscriber_hears_every_announcement_in_order,
]);

pub struct Announced {
    announcements: Arc<dyn LoginAnnouncements>,
    _stream: Option<TestStream>,
}

impl Announced {
    async fn nats() -> Self {
        let stream = TestStream::new();
        let log =
            NatsLog::connect(&nats_url(), &stream.prefix, StreamSettings::default()).await.expect("NATS");
        Self { announcements: Arc::new(NatsLoginAnnouncements::new(log)), _stream: Some(stream) }
    }

    async fn memory() -> Self {
        Self { announcements: Arc::new(MemoryLoginAnnouncements::default()), _stream: None }
    }
}

async fn every_subscriber_hears_every_announcement_in_order(a: &Announced) {
    let mut first = a.announcements.subscribe().await.unwrap();
    let mut second = a.announcements.subscribe().await.unwrap();
    let ended: Vec<LoginEnded> =
        (0..3).map(|_| LoginEnded { login: LoginId::generate(), user: UserId::generate() }).collect();
    for one in &ended {
        a.announcements.announce(one).await.unwrap();
    }
    for subscriber in [&mut first, &mut second] {
        let mut heard = Vec::new();
        for _ in 0..ended.len() {
            let next = tokio::time::timeout(Duration::from_secs(5), subscriber.next()).await;
            heard.push(next.expect("an announcement in time").expect("the stream is open"));
        }
        assert_eq!(heard, ended);
    }
}
