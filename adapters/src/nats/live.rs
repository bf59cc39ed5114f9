//! Live delivery: the server republishes every stored message over core NATS, and a node
//! subscribes to the rooms its connections watch, learning each message's place in its room.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use async_nats::header::{NATS_LAST_SEQUENCE, NATS_SEQUENCE};
use async_nats::{HeaderMap, Subscriber};
use bytes::Bytes;
use futures::{Stream, StreamExt};

/// A message of the room as the stream stored it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveMessage {
    /// Its stream sequence.
    pub seq: u64,
    /// The stream sequence of the room's previous message, 0 for the room's first. When it is
    /// not the last `seq` seen, messages were missed (a slow subscriber, a reconnect) and can be
    /// read back with [`NatsLog::read_room_after`](super::NatsLog::read_room_after).
    pub last_seq: u64,
    pub payload: Bytes,
}

/// The live messages of one room, in stream order. Core NATS is at-most-once: watch for gaps
/// with [`LiveMessage::last_seq`]. Dropping it ends the subscription on the server.
pub struct LiveSubscription {
    subscriber: Subscriber,
}

impl LiveSubscription {
    pub(super) fn new(subscriber: Subscriber) -> Self {
        Self { subscriber }
    }
}

impl Stream for LiveSubscription {
    type Item = LiveMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<LiveMessage>> {
        loop {
            let Some(message) = ready!(self.subscriber.poll_next_unpin(cx)) else {
                return Poll::Ready(None);
            };
            match message.headers.as_ref().and_then(positions) {
                Some((seq, last_seq)) => {
                    return Poll::Ready(Some(LiveMessage { seq, last_seq, payload: message.payload }));
                }
                // Only a publisher bypassing the stream can send this; it has no place in the
                // room's order, so it is not a message of the room.
                None => tracing::warn!(
                    subject = %message.subject,
                    "skipped a live message without republish sequence headers"
                ),
            }
        }
    }
}

/// `(Nats-Sequence, Nats-Last-Sequence)`, as the server sets them on republished messages.
fn positions(headers: &HeaderMap) -> Option<(u64, u64)> {
    let number = |name| headers.get(name)?.as_str().parse().ok();
    Some((number(NATS_SEQUENCE)?, number(NATS_LAST_SEQUENCE)?))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::testing::TestLog;
    use super::*;

    const ROOM_A: &str = "0195f4e2-8a7c-7d3e-9b1a-00000000000a";
    const ROOM_B: &str = "0195f4e2-8a7c-7d3e-9b1a-00000000000b";

    async fn next(live: &mut LiveSubscription) -> LiveMessage {
        tokio::time::timeout(Duration::from_secs(5), live.next()).await.unwrap().unwrap()
    }

    #[tokio::test]
    async fn republished_messages_carry_their_seq_and_the_previous_seq_of_their_room() {
        let log = TestLog::start().await;
        let mut live_a = log.subscribe_live(ROOM_A).await.unwrap();
        let mut live_b = log.subscribe_live(ROOM_B).await.unwrap();

        let mut seqs = Vec::new();
        for (i, room) in [ROOM_A, ROOM_B, ROOM_A, ROOM_A, ROOM_B].into_iter().enumerate() {
            let payload = Bytes::from(format!("m{i}"));
            seqs.push(log.append(room, &format!("id{i}"), payload).await.unwrap().seq);
        }

        let got_a = [next(&mut live_a).await, next(&mut live_a).await, next(&mut live_a).await];
        let got_b = [next(&mut live_b).await, next(&mut live_b).await];
        let positions =
            |got: &[LiveMessage]| -> Vec<(u64, u64)> { got.iter().map(|m| (m.seq, m.last_seq)).collect() };
        assert_eq!(positions(&got_a), [(seqs[0], 0), (seqs[2], seqs[0]), (seqs[3], seqs[2])]);
        assert_eq!(positions(&got_b), [(seqs[1], 0), (seqs[4], seqs[1])]);
        assert_eq!(got_a[1].payload, "m2");
    }

    #[tokio::test]
    async fn a_duplicate_is_not_republished() {
        let log = TestLog::start().await;
        let mut live = log.subscribe_live(ROOM_A).await.unwrap();

        log.append(ROOM_A, "same", Bytes::from_static(b"first")).await.unwrap();
        log.append(ROOM_A, "same", Bytes::from_static(b"again")).await.unwrap();
        log.append(ROOM_A, "other", Bytes::from_static(b"next")).await.unwrap();

        assert_eq!(next(&mut live).await.payload, "first");
        assert_eq!(next(&mut live).await.payload, "next");
    }

    #[tokio::test]
    async fn a_message_without_republish_headers_is_skipped() {
        let log = TestLog::start().await;
        let mut live = log.subscribe_live(ROOM_A).await.unwrap();

        let subject = format!("{}.live.{ROOM_A}", log.prefix());
        log.client.publish(subject, Bytes::from_static(b"forged")).await.unwrap();
        log.append(ROOM_A, "id", Bytes::from_static(b"stored")).await.unwrap();

        assert_eq!(next(&mut live).await.payload, "stored");
    }
}
