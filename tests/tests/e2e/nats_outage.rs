//! The message log while its NATS server is down: every call fails as `Unavailable` (a client
//! sees 503 and retries, rather than a 500), and once the server is back the log works again
//! with everything it had stored.

use std::time::{Duration, Instant};

use chat_adapters::jetstream::JetStreamLog;
use chat_adapters::nats::{NatsLog, StreamSettings};
use chat_shared::domain::{Entry, Message, RoomId};
use chat_shared::ports::{Appended, LogError, MessageLog};
use chat_tests::outage::PrivateNats;

use crate::contract::new_message;

fn unavailable<T: std::fmt::Debug>(result: &Result<T, LogError>) -> bool {
    matches!(result, Err(LogError::Unavailable(_)))
}

#[tokio::test]
async fn while_nats_is_down_every_log_call_is_unavailable_and_after_it_nothing_stored_is_lost() {
    let mut nats = PrivateNats::start().await.unwrap();
    let nats_log = NatsLog::connect(&nats.url(), "outage", StreamSettings::default()).await.unwrap();
    let log = JetStreamLog::new(nats_log.clone(), "persister");
    let room = RoomId::generate();
    let before = new_message(room, 0, "before", None);
    let Ok(Appended::New(seq)) = log.append(&before, "before").await else { panic!("appended") };
    let consumer = nats_log.durable_consumer("persister", Duration::from_secs(30), -1).await.unwrap();

    nats.stop().await.unwrap();
    let during = new_message(room, 0, "during", None);
    let (appended, got, last, read, pending, created) = tokio::join!(
        log.append(&during, "during"),
        log.get(seq),
        log.last_seq(room),
        log.read_after(room, 0, 10),
        consumer.pending(),
        nats_log.durable_consumer("another", Duration::from_secs(30), -1),
    );

    assert!(unavailable(&appended), "append: {appended:?}");
    assert!(unavailable(&got), "get: {got:?}");
    assert!(unavailable(&last), "last_seq: {last:?}");
    assert!(unavailable(&read), "read_after: {read:?}");
    assert!(pending.as_ref().is_err_and(|e| e.is_unavailable()), "pending: {pending:?}");
    assert!(created.as_ref().is_err_and(|e| e.is_unavailable()), "durable_consumer: {:?}", created.err());

    nats.resume().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let appended = loop {
        match log.append(&during, "during").await {
            Err(LogError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            result => break result,
        }
    };
    // The append that timed out may have reached the server after all: retried with the same
    // dedup key, it is stored once either way.
    assert!(
        matches!(appended, Ok(Appended::New(next) | Appended::Duplicate(next)) if next > seq),
        "{appended:?}"
    );
    assert_eq!(log.get(seq).await.unwrap(), Some(Entry::Message(Message { seq, ..before.clone() })));
    assert_eq!(log.read_after(room, 0, 10).await.unwrap().len(), 2);
}
