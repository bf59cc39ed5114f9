//! The deployment's message stream on NATS JetStream: appends, reads by seq and by room, live
//! subscriptions and the persister's durable consumer.

use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::context::ConsumerInfoErrorKind;
use async_nats::jetstream::context::Publish;
use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream::{DirectGetErrorKind, LastRawMessageErrorKind};
use async_nats::{Client, ConnectErrorKind, ConnectOptions, jetstream};
use async_trait::async_trait;
use bytes::Bytes;
use chat_shared::ports::{Probe, ProbeError};
use futures::StreamExt;

use crate::secret::redacted_urls;

use super::access::{NatsAccess, without_credentials};
use super::durable::DurableConsumer;
use super::error::NatsError;
use super::live::LiveSubscription;
use super::names::{Names, token};
use super::stream::{self, StreamSettings};

/// How many of a room's messages a read takes by direct gets before it makes a consumer.
const DIRECT_READS: usize = 8;
/// How long the server keeps a reader's consumer that `read_room_after` failed to delete.
const READER_IDLE: Duration = Duration::from_secs(30);
/// How long a read waits for the room's messages up to its newest; reached only when that
/// message was removed (retention) while the read ran, or the reader's replica lags.
const READ_WAIT: Duration = Duration::from_secs(2);

/// The outcome of [`NatsLog::append`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// The message's stream sequence: its position in the room and across rooms.
    pub seq: u64,
    /// The `dedup_id` was already stored within the duplicate window: nothing was stored, and
    /// `seq` is the sequence of the message stored first.
    pub duplicate: bool,
}

/// The deployment's message stream. Cheap to clone: clones share one connection, and any
/// number of appends, reads and subscriptions may be in flight on it at once.
#[derive(Clone)]
pub struct NatsLog {
    pub(super) client: Client,
    js: jetstream::Context,
    pub(super) stream: jetstream::stream::Stream,
    pub(super) names: Names,
}

impl NatsLog {
    /// Connects to one of the servers of `urls` (comma separated), then creates the stream of
    /// `prefix`, or updates it to `settings`. The first connection is not retried, so a wrong
    /// address fails at once; later disconnections are retried for ever.
    ///
    /// Errors: [`NatsError::Connect`] when no server answers, `InvalidName` for a prefix that is
    /// not a single subject token, `Other` when the server refuses the settings.
    pub async fn connect(urls: &str, prefix: &str, settings: StreamSettings) -> Result<Self, NatsError> {
        Self::connect_with(urls, &NatsAccess::default(), prefix, settings).await
    }

    /// As [`connect`](Self::connect), with the TLS and credentials of `access`. A server whose
    /// certificate does not check out, or that refuses the credentials, fails the connection
    /// at once like an unreachable one.
    ///
    /// Errors: also [`NatsError::Credentials`] when the `.creds` file cannot be read.
    pub async fn connect_with(
        urls: &str,
        access: &NatsAccess,
        prefix: &str,
        settings: StreamSettings,
    ) -> Result<Self, NatsError> {
        let names = Names::new(prefix)?;
        let connect_error = |source| NatsError::Connect { urls: redacted_urls(urls), source };
        let servers: Vec<&str> = urls.split(',').map(str::trim).filter(|u| !u.is_empty()).collect();
        if servers.is_empty() {
            // async-nats panics on an empty list.
            return Err(connect_error(ConnectErrorKind::ServerParse.into()));
        }
        let options = ConnectOptions::new()
            .name(connection_name(prefix))
            .event_callback(|event| async move { record_event(&event) });
        let client = access
            .apply(options, &servers)
            .await
            .map_err(NatsError::Credentials)?
            .connect(servers.iter().map(|url| without_credentials(url)).collect::<Vec<_>>())
            .await
            .map_err(connect_error)?;
        let js = jetstream::new(client.clone());
        let stream = stream::ensure(&js, &names, &settings).await?;
        Ok(Self { client, js, stream, names })
    }

    /// Stores `payload` as the room's next message, unless a message with the same `dedup_id`
    /// was stored within the duplicate window. Returns once the server has stored it (on a
    /// majority of replicas).
    ///
    /// Errors: `Unavailable` when the server does not acknowledge in time (the message may or
    /// may not be stored: retry with the same `dedup_id`), `InvalidName` for a bad room.
    pub async fn append(&self, room: &str, dedup_id: &str, payload: Bytes) -> Result<Appended, NatsError> {
        let subject = self.names.room(room)?;
        let publish = Publish::build().payload(payload).message_id(dedup_id);
        // The first await hands the message to the connection; only the second, the PubAck,
        // means it is stored. Nothing is held across it, so appends overlap freely.
        let ack = self.js.send_publish(subject, publish).await?.await?;
        Ok(Appended { seq: ack.sequence, duplicate: ack.duplicate })
    }

    /// The payload stored at `seq`, or `None` if there is none (never stored, removed by
    /// retention, deleted). Answered by the stream's leader: a direct get may be answered by a
    /// replica that has not applied an acknowledged message yet.
    pub async fn get(&self, seq: u64) -> Result<Option<Bytes>, NatsError> {
        if seq == 0 {
            return Ok(None);
        }
        match self.stream.get_raw_message(seq).await {
            Ok(message) => Ok(Some(message.payload)),
            Err(err) if err.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// The room's messages with a sequence above `after_seq`, ascending, at most `limit`: page
    /// by passing the last sequence returned. Messages removed by retention are silently
    /// absent; see [`NatsLog::first_seq`].
    ///
    /// On a stream of one replica the first few come by direct gets, one each: most reads are
    /// of the few entries of a room the persisters have not acknowledged yet (every edit,
    /// deletion and reaction reads them), and a consumer costs the server more (measured in
    /// `bench/RESULTS.md`). A replicated stream's direct gets may be answered by a replica that
    /// lags, so there every read takes a consumer. A short-lived consumer filtered on the room
    /// streams the rest in a few round trips, whatever the number of other rooms' messages in
    /// between: a thousand in a few milliseconds. NATS 2.9 has one slow case: a read starting
    /// in the older half of the stream's newest file block costs about half a millisecond a
    /// message, about what one direct get per message costs.
    pub async fn read_room_after(
        &self,
        room: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Bytes)>, NatsError> {
        let filter_subject = self.names.room(room)?;
        // Most reads find nothing newer: one request spares them the rest, and tells the read
        // where the room ends.
        let newest = match self.last_seq_of_room(room).await? {
            Some(newest) if newest > after_seq && limit > 0 => newest,
            _ => return Ok(Vec::new()),
        };
        let mut messages = Vec::new();
        if self.stream.cached_info().config.num_replicas <= 1 {
            messages =
                self.read_directly(&filter_subject, after_seq, newest, limit.min(DIRECT_READS)).await?;
        }
        let reached = messages.last().map_or(after_seq, |(seq, _)| *seq);
        if reached >= newest || messages.len() >= limit {
            return Ok(messages);
        }
        let rest =
            self.read_by_consumer(room, filter_subject, reached, newest, limit - messages.len()).await?;
        messages.extend(rest);
        Ok(messages)
    }

    /// Up to `limit` of the messages on `subject` above `after_seq`, up to `newest`, one
    /// direct get each; fewer when the server has no next one (removed by retention
    /// meanwhile), which the consumer's read then tells apart.
    async fn read_directly(
        &self,
        subject: &str,
        after_seq: u64,
        newest: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Bytes)>, NatsError> {
        let mut messages = Vec::new();
        let mut from = after_seq + 1;
        while messages.len() < limit && from <= newest {
            let message = match self.stream.direct_get_next_for_subject(subject, Some(from)).await {
                Ok(message) => StreamMessage::try_from(message.message).map_err(NatsError::other)?,
                Err(err) if err.kind() == DirectGetErrorKind::NotFound => break,
                Err(err) => return Err(err.into()),
            };
            if message.sequence > newest {
                break;
            }
            from = message.sequence + 1;
            messages.push((message.sequence, message.payload));
        }
        Ok(messages)
    }

    /// [`NatsLog::read_room_after`] with a consumer: the room's messages above `after_seq`, up
    /// to `newest`, at most `limit`.
    async fn read_by_consumer(
        &self,
        room: &str,
        filter_subject: String,
        after_seq: u64,
        newest: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Bytes)>, NatsError> {
        let consumer = self
            .stream
            .create_consumer(pull::Config {
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: after_seq.saturating_add(1),
                },
                ack_policy: AckPolicy::None,
                filter_subject,
                inactive_threshold: READER_IDLE,
                memory_storage: true,
                num_replicas: 1,
                ..Default::default()
            })
            .await?;
        let messages = drain(&consumer, newest, limit).await;
        let name = &consumer.cached_info().name;
        if let Err(err) = self.stream.delete_consumer(name).await {
            tracing::debug!(consumer = %name, error = %err, "reader left to expire");
        }
        let messages = messages?;
        let reached = messages.last().map(|(seq, _)| *seq);
        // A read that stops short of the room's newest message either found the rest removed
        // by retention, or ran on a replica that lags behind the leader (one catching up after
        // a restart). Returning it then would put a hole in a page merged with the store.
        if messages.len() < limit && reached < Some(newest) && self.first_seq().await? <= newest {
            return Err(NatsError::Unavailable(
                format!("the read of room {room} ended at {reached:?}, before its newest message {newest}")
                    .into(),
            ));
        }
        Ok(messages)
    }

    /// The sequence of the room's last stored message, `None` if it has none: one round trip,
    /// which spares `read_room_after` its consumer when there is nothing new. Answered by the
    /// stream's leader: on a replicated stream a direct get is answered by any replica, and
    /// one that lags (measured: 2.7 % of direct gets made right after an acknowledgement, R3,
    /// NATS 2.9) would end a read before messages already acknowledged.
    pub async fn last_seq_of_room(&self, room: &str) -> Result<Option<u64>, NatsError> {
        match self.stream.get_last_raw_message_by_subject(&self.names.room(room)?).await {
            Ok(message) => Ok(Some(message.sequence)),
            Err(err) if err.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Erases the entries stored under `seqs` from the stream: the server overwrites them on
    /// disk, and no read returns them again. An entry already gone counts as erased.
    ///
    /// Errors: `Unavailable` when the server does not answer in time; retry.
    pub async fn remove(&self, seqs: &[u64]) -> Result<(), NatsError> {
        for &seq in seqs {
            if let Err(err) = self.stream.delete_message(seq).await {
                let err = NatsError::from(err);
                // The server refuses to delete what it does not hold; whether that is why, a
                // read tells.
                if err.is_unavailable() || self.get(seq).await?.is_some() {
                    return Err(err);
                }
            }
        }
        Ok(())
    }

    /// The acknowledgement floor of durable consumer `name`: every entry up to it has been
    /// acknowledged. 0 while the consumer does not exist.
    pub async fn ack_floor(&self, name: &str) -> Result<u64, NatsError> {
        let name = token("consumer name", name)?;
        match self.stream.consumer_info(name).await {
            Ok(info) => Ok(info.ack_floor.stream_sequence),
            Err(err) if err.kind() == ConsumerInfoErrorKind::NotFound => Ok(0),
            Err(err) => Err(err.into()),
        }
    }

    /// The stream's newest sequence, of any room; 0 before the first append.
    pub async fn last_seq(&self) -> Result<u64, NatsError> {
        Ok(self.stream.get_info().await?.state.last_sequence)
    }

    /// The lowest sequence still stored: the next one to be used once retention has removed
    /// every message, 0 before the first append. Messages above `after_seq` may have been
    /// removed exactly when this exceeds `after_seq + 1`; ask after reading, as retention only
    /// ever raises it.
    pub async fn first_seq(&self) -> Result<u64, NatsError> {
        Ok(self.stream.get_info().await?.state.first_sequence)
    }

    /// The room's messages from now on, as the server stores them. Subscribe before reading
    /// the history with `read_room_after`, so that nothing falls between the two: both go over
    /// the same connection, so the server has the subscription before it answers the read.
    pub async fn subscribe_live(&self, room: &str) -> Result<LiveSubscription, NatsError> {
        let subject = self.names.live(room)?;
        let subscriber = self.client.subscribe(subject).await.map_err(NatsError::other)?;
        Ok(LiveSubscription::new(subscriber))
    }

    /// The consumer `name` of every room's messages, created or updated to these settings.
    /// Processes using the same name share the messages: each goes to one of them. A message
    /// not acknowledged within `ack_wait` is delivered again, at most `max_deliver` times in
    /// all (-1: no limit).
    pub async fn durable_consumer(
        &self,
        name: &str,
        ack_wait: Duration,
        max_deliver: i64,
    ) -> Result<DurableConsumer, NatsError> {
        self.durable(name, ack_wait, max_deliver, DeliverPolicy::All).await
    }

    /// As [`durable_consumer`](Self::durable_consumer), for a consumer that, made now, starts
    /// with the messages appended from now on (the history stays unread), and is delivered
    /// each message until it is acknowledged.
    pub async fn durable_consumer_from_now(
        &self,
        name: &str,
        ack_wait: Duration,
    ) -> Result<DurableConsumer, NatsError> {
        self.durable(name, ack_wait, -1, DeliverPolicy::New).await
    }

    async fn durable(
        &self,
        name: &str,
        ack_wait: Duration,
        max_deliver: i64,
        deliver_policy: DeliverPolicy,
    ) -> Result<DurableConsumer, NatsError> {
        let name = token("consumer name", name)?;
        let consumer = self
            .stream
            .create_consumer(pull::Config {
                durable_name: Some(name.to_owned()),
                filter_subject: self.names.all_rooms(),
                deliver_policy,
                ack_policy: AckPolicy::Explicit,
                ack_wait,
                max_deliver,
                // Each process bounds what it holds by its own pull requests; the server's default
                // limit (1,000 unacknowledged) would stall several processes writing batches
                // at once.
                max_ack_pending: -1,
                ..Default::default()
            })
            .await?;
        Ok(DurableConsumer::new(consumer, self.stream.clone()))
    }

    /// A `/readyz` check of this log's connection.
    pub fn probe(&self) -> NatsProbe {
        NatsProbe(self.client.clone())
    }
}

/// Collects up to `limit` messages of a reader consumer, stopping when the server says none
/// are left rather than waiting for more.
async fn drain(
    consumer: &jetstream::consumer::Consumer<pull::Config>,
    newest: u64,
    limit: usize,
) -> Result<Vec<(u64, Bytes)>, NatsError> {
    // NATS 2.9 can count a filtered consumer's pending messages too low, and a request that
    // does not wait then answers "no messages" although some remain: the read waits for
    // messages instead, and ends at the room's newest one, known beforehand.
    let mut batch = consumer.batch().max_messages(limit).expires(READ_WAIT).messages().await?;
    let mut messages = Vec::new();
    while let Some(message) = batch.next().await {
        let message = message.map_err(NatsError::Other)?;
        let seq = message.info().map_err(NatsError::other)?.stream_sequence;
        messages.push((seq, message.message.payload));
        if seq >= newest || messages.len() >= limit {
            break;
        }
    }
    Ok(messages)
}

/// Logs and counts what happens to the connection: disconnections mean live messages may be
/// missed (gap fills follow), slow consumers mean the client dropped some.
fn record_event(event: &async_nats::Event) {
    let kind = match event {
        async_nats::Event::Connected => "connected",
        async_nats::Event::Disconnected => "disconnected",
        async_nats::Event::LameDuckMode => "lame_duck",
        async_nats::Event::Draining => "draining",
        async_nats::Event::Closed => "closed",
        async_nats::Event::SlowConsumer(_) => "slow_consumer",
        async_nats::Event::ServerError(_) => "server_error",
        async_nats::Event::ClientError(_) => "client_error",
    };
    match event {
        async_nats::Event::Connected => tracing::info!("NATS {event}"),
        _ => tracing::warn!("NATS {event}"),
    }
    metrics::counter!("chat_nats_events_total", "event" => kind).increment(1);
}

/// Names the connection after the running binary and the prefix, so that the server's
/// connection list tells nodes, persisters and deployments apart.
fn connection_name(prefix: &str) -> String {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|path| path.file_stem().map(|stem| stem.to_string_lossy().into_owned()));
    format!("{}/{prefix}", binary.as_deref().unwrap_or("chat"))
}

/// `/readyz` check: whether the connection is up. It reconnects by itself; while it is down,
/// appends fail with `Unavailable` after their timeout.
pub struct NatsProbe(Client);

#[async_trait]
impl Probe for NatsProbe {
    fn name(&self) -> &'static str {
        "nats"
    }

    async fn check(&self) -> Result<(), ProbeError> {
        match self.0.connection_state() {
            State::Connected => Ok(()),
            State::Pending => Err(ProbeError::Connecting),
            State::Disconnected => Err(ProbeError::Unreachable),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Instant;

    use super::super::testing::TestLog;
    use super::*;

    const ROOM_A: &str = "0195f4e2-8a7c-7d3e-9b1a-00000000000a";
    const ROOM_B: &str = "0195f4e2-8a7c-7d3e-9b1a-00000000000b";

    fn payload(i: usize) -> Bytes {
        Bytes::from(format!("m{i}"))
    }

    #[tokio::test]
    async fn appends_get_increasing_seqs() {
        let log = TestLog::start().await;

        let mut seqs = Vec::new();
        for i in 0..5 {
            let room = [ROOM_A, ROOM_B][i % 2];
            let appended = log.append(room, &format!("id{i}"), payload(i)).await.unwrap();
            assert!(!appended.duplicate);
            seqs.push(appended.seq);
        }

        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    }

    #[tokio::test]
    async fn a_repeated_dedup_id_is_acked_as_a_duplicate_with_the_original_seq() {
        let log = TestLog::start().await;
        let original = log.append(ROOM_A, "dedup", payload(0)).await.unwrap();
        log.append(ROOM_A, "other", payload(1)).await.unwrap();

        let again = log.append(ROOM_B, "dedup", payload(2)).await.unwrap();

        assert_eq!(again, Appended { seq: original.seq, duplicate: true });
        assert_eq!(log.get(original.seq).await.unwrap().unwrap(), payload(0));
        assert_eq!(log.read_room_after(ROOM_B, 0, 10).await.unwrap(), []);
    }

    #[tokio::test]
    async fn two_thousand_appends_in_flight_are_all_acked_with_distinct_seqs() {
        let log = TestLog::start().await;
        let count = 2000;

        let started = Instant::now();
        let tasks: Vec<_> = (0..count)
            .map(|i| {
                let log = log.clone();
                tokio::spawn(async move {
                    let room = [ROOM_A, ROOM_B][i % 2];
                    log.append(room, &format!("id{i}"), Bytes::from(vec![b'x'; 200])).await
                })
            })
            .collect();
        let mut seqs = BTreeSet::new();
        for task in tasks {
            let appended = task.await.unwrap().unwrap();
            assert!(!appended.duplicate);
            seqs.insert(appended.seq);
        }
        let elapsed = started.elapsed();

        assert_eq!(seqs.len(), count);
        eprintln!("{count} concurrent appends in {elapsed:?}: {:.0}/s", count as f64 / elapsed.as_secs_f64());
    }

    #[tokio::test]
    async fn get_returns_the_payload_at_a_seq_and_none_where_there_is_none() {
        let log = TestLog::start().await;
        let appended = log.append(ROOM_A, "id", payload(0)).await.unwrap();

        assert_eq!(log.get(appended.seq).await.unwrap(), Some(payload(0)));
        assert_eq!(log.get(appended.seq + 1).await.unwrap(), None);
        assert_eq!(log.get(0).await.unwrap(), None);
    }

    #[tokio::test]
    async fn read_room_after_returns_only_that_rooms_later_messages_in_order() {
        let log = TestLog::start().await;
        let mut in_a = Vec::new();
        for i in 0..30 {
            let room = if i % 3 == 0 { ROOM_B } else { ROOM_A };
            let appended = log.append(room, &format!("id{i}"), payload(i)).await.unwrap();
            if room == ROOM_A {
                in_a.push((appended.seq, payload(i)));
            }
        }

        let after = in_a[1].0;
        assert_eq!(log.read_room_after(ROOM_A, after, 100).await.unwrap(), in_a[2..]);
        assert_eq!(log.read_room_after(ROOM_A, after, 2).await.unwrap(), in_a[2..4]);
        assert_eq!(log.read_room_after(ROOM_A, after, 12).await.unwrap(), in_a[2..14]);
        assert_eq!(log.read_room_after(ROOM_A, 0, 100).await.unwrap(), in_a);
        let last = in_a.last().unwrap().0;
        assert_eq!(log.read_room_after(ROOM_A, last, 100).await.unwrap(), []);
        let unknown = "0195f4e2-8a7c-7d3e-9b1a-00000000000c";
        assert_eq!(log.read_room_after(unknown, 0, 100).await.unwrap(), []);

        // Erased messages are skipped.
        log.remove(&[in_a[3].0, in_a[12].0]).await.unwrap();
        let kept: Vec<_> =
            in_a.iter().enumerate().filter(|(i, _)| ![3, 12].contains(i)).map(|(_, m)| m.clone()).collect();
        assert_eq!(log.read_room_after(ROOM_A, 0, 100).await.unwrap(), kept);
        assert_eq!(log.read_room_after(ROOM_A, 0, 9).await.unwrap(), kept[..9]);
    }

    #[tokio::test]
    async fn read_room_after_pages_through_thousands_of_messages() {
        let log = TestLog::start().await;
        let log = &*log;
        // A real message's size: how many fit in a file block shapes NATS 2.9's slow case.
        let message = Bytes::from(vec![b'x'; 300]);
        let futures: Vec<_> = (0..6000)
            .map(|i| {
                let message = message.clone();
                async move { log.append([ROOM_A, ROOM_B][i % 2], &format!("id{i}"), message).await }
            })
            .collect();
        let appended = futures::future::try_join_all(futures).await.unwrap();
        let mut in_a: Vec<u64> = appended.iter().step_by(2).map(|a| a.seq).collect();
        in_a.sort_unstable();

        let started = Instant::now();
        let mut read = Vec::new();
        let mut after = 0;
        loop {
            let page = log.read_room_after(ROOM_A, after, 1000).await.unwrap();
            let Some(&(last, _)) = page.last() else { break };
            read.extend(page.into_iter().map(|(seq, _)| seq));
            after = last;
        }
        let elapsed = started.elapsed();

        assert!(read == in_a, "read {} messages, not the {} of the room", read.len(), in_a.len());
        eprintln!("read {} messages of a room in pages of 1000 in {elapsed:?}", read.len());
    }

    #[tokio::test]
    async fn last_seq_of_room_is_that_of_the_rooms_newest_message() {
        let log = TestLog::start().await;
        assert_eq!(log.last_seq_of_room(ROOM_A).await.unwrap(), None);
        let first = log.append(ROOM_A, "a0", payload(0)).await.unwrap().seq;
        let last = log.append(ROOM_A, "a1", payload(1)).await.unwrap().seq;
        log.append(ROOM_B, "b0", payload(2)).await.unwrap();

        assert_eq!(log.last_seq_of_room(ROOM_A).await.unwrap(), Some(last));
        assert!(first < last);
    }

    #[tokio::test]
    async fn first_seq_moves_past_messages_removed_by_retention() {
        let max_age = Duration::from_secs(1);
        let settings = StreamSettings { max_age, duplicate_window: max_age, ..Default::default() };
        let log = TestLog::with(settings).await;
        let last = log.append(ROOM_A, "a", payload(0)).await.unwrap().seq;
        assert_eq!(log.first_seq().await.unwrap(), 1);

        let deadline = Instant::now() + Duration::from_secs(10);
        while log.first_seq().await.unwrap() <= last && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        assert_eq!(log.first_seq().await.unwrap(), last + 1);
        assert_eq!(log.read_room_after(ROOM_A, 0, 10).await.unwrap(), []);
    }

    #[tokio::test]
    async fn an_invalid_room_is_rejected_before_reaching_the_server() {
        let log = TestLog::start().await;

        let result = log.append("a.b", "id", payload(0)).await;

        assert!(matches!(result, Err(NatsError::InvalidName { what: "room", .. })));
    }

    #[tokio::test]
    async fn connecting_where_no_server_listens_fails_at_once_as_unavailable() {
        let started = Instant::now();

        let result = NatsLog::connect("127.0.0.1:1, 127.0.0.1:2", "t_x", Default::default()).await;

        let err = result.err().unwrap();
        assert!(matches!(err, NatsError::Connect { .. }) && err.is_unavailable(), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn an_empty_server_list_is_refused_without_trying() {
        let result = NatsLog::connect(" , ", "t_x", StreamSettings::default()).await;

        let err = result.err().unwrap();
        assert!(matches!(err, NatsError::Connect { .. }) && !err.is_unavailable(), "{err:?}");
    }

    #[tokio::test]
    async fn the_probe_passes_while_connected() {
        let log = TestLog::start().await;

        let probe = log.probe();

        assert_eq!(probe.name(), "nats");
        assert_eq!(probe.check().await, Ok(()));
    }
}
