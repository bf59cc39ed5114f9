//! Running a client's commands: entries of a room's log (sends, edits, deletions, reactions:
//! rate-limited, a few in flight, in order per room), joins with catch-up, history, read markers, typing and token renewal; and the replies.

use std::time::Duration;

use bytes::Bytes;
use chat_shared::domain::{Entry, RoomId, Seq};
use chat_shared::ports::PageQuery;
use chat_shared::protocol::{
    ClientFrame, Codec, Command, EntryFrame, FrameError, ServerFrame, encode, encode_reply,
};
use chat_shared::usecases::DEFAULT_PAGE;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::closing::Ending;
use super::entries::{Delete, EntryCommand, React};
use super::limits::{RATE_STRIKES_LIMIT, SEND_RETRY_AFTER};
use super::state::{Outgoing, SendFuture, Session};
use crate::error::ApiError;
use crate::hot_metrics;
use crate::state::AppState;
use crate::ws::auth::{AuthRefusal, authenticate};
use crate::ws::close::Close;

/// The reply to an entry of the log: the message as it stands after it.
#[derive(serde::Serialize)]
struct MessageReply<'a> {
    message: &'a chat_shared::domain::Message,
}

impl<W: Outgoing> Session<W> {
    pub(super) async fn handle(
        &mut self,
        frame: ClientFrame,
        sends: &mut FuturesUnordered<SendFuture>,
        expiry: &mut std::pin::Pin<Box<tokio::time::Sleep>>,
    ) -> Result<(), Ending> {
        let id = frame.id;
        hot_metrics::command(&frame.command).increment(1);
        // Set when the connection ends after this frame's answer.
        let mut ending = None;
        let result: Result<Value, ApiError> = match frame.command {
            Command::Send(send) => return self.store_entry(id, EntryCommand::Send(send), sends).await,
            Command::Edit(edit) => return self.store_entry(id, EntryCommand::Edit(edit), sends).await,
            Command::Delete { room, message, client_change_id } => {
                let delete = EntryCommand::Delete(Delete { room, message, client_change_id });
                return self.store_entry(id, delete, sends).await;
            }
            Command::React { room, message, emoji, add } => {
                let react = EntryCommand::React(React { room, message, emoji, add });
                return self.store_entry(id, react, sends).await;
            }
            Command::Ping => {
                if let Some(id) = id {
                    self.write(reply_ok(self.codec(), id, json!({}))).await?;
                }
                self.write(encode(self.codec(), &ServerFrame::Pong)).await?;
                return Ok(());
            }
            Command::Auth { token } => match authenticate(&self.state, &token).await {
                Ok(renewed) if renewed.user == self.user => {
                    expiry
                        .as_mut()
                        .reset(tokio::time::Instant::now() + until(renewed.expires_at, &self.state));
                    self.follow_login(renewed.login);
                    Ok(json!({}))
                }
                Ok(_) => {
                    ending = Some(Ending::Close(Close::AnotherUsersToken));
                    Err(ApiError::Unauthorized(Close::AnotherUsersToken.reason()))
                }
                // The session's current token still holds until it expires: the client may try
                // the renewal again.
                Err(AuthRefusal::Unavailable) => {
                    Err(ApiError::Unavailable("a backing service is unavailable; retry later".into()))
                }
                Err(AuthRefusal::Internal) => Err(ApiError::Internal),
                Err(refusal @ (AuthRefusal::Invalid | AuthRefusal::Ended)) => {
                    let close = refusal.close();
                    ending = Some(Ending::Close(close));
                    Err(ApiError::Unauthorized(close.reason()))
                }
            },
            // The commands that wait on the stores are boxed: their futures are far larger than
            // the rest of the session, and every connection's task would carry that room for
            // its whole life.
            Command::Join { room, since } => Box::pin(self.join(room, since)).await,
            Command::Leave { room } => {
                Box::pin(self.stop_following(room)).await;
                Ok(json!({}))
            }
            Command::History { room, before, after, limit } => {
                let query = PageQuery { before, after, limit: limit.map_or(DEFAULT_PAGE, |l| l as usize) };
                Box::pin(self.history(room, query)).await
            }
            Command::Read { room, seq } => {
                Box::pin(self.state.messages.mark_read(self.user, room, seq, Some(self.socket)))
                    .await
                    .map(|_| json!({}))
                    .map_err(ApiError::from)
            }
            Command::Rooms { unread } => {
                if unread {
                    // Before the list is read: every count it shows is then kept up to date.
                    self.state.feeds.count_unread(self.user, self.socket);
                }
                Box::pin(self.state.rooms.list_mine(self.user))
                    .await
                    .map(|rooms| json!({ "rooms": rooms }))
                    .map_err(ApiError::from)
            }
            Command::Typing { room } => Box::pin(self.typing(room)).await,
            Command::Thread { room, message, after, limit } => {
                let limit = limit.map_or(DEFAULT_PAGE, |l| l as usize);
                Box::pin(self.state.messages.thread(self.user, room, message, after.unwrap_or(0), limit))
                    .await
                    .map(|p| json!({ "messages": p.messages, "has_more": p.has_more }))
                    .map_err(ApiError::from)
            }
        };
        let frame = match (id, result) {
            (Some(id), Ok(value)) => Some(reply_ok(self.codec(), id, value)),
            (_, Ok(_)) => None,
            (id, Err(err)) => Some(refusal(self.codec(), id, &err)),
        };
        if let Some(frame) = frame {
            self.write(frame).await?;
        }
        ending.map_or(Ok(()), Err)
    }

    /// Starts storing an entry of a room's log beside the others in flight, past the rate
    /// limit (a refusal in a row too many ends the connection) and at most
    /// `--max-sends-in-flight` at once: past that, the oldest's reply is awaited first.
    async fn store_entry(
        &mut self,
        id: Option<u64>,
        command: EntryCommand,
        sends: &mut FuturesUnordered<SendFuture>,
    ) -> Result<(), Ending> {
        if !self.allow_send() {
            self.rate_strikes += 1;
            metrics::counter!("chat_ws_rate_limited_total").increment(1);
            let refused = ApiError::RateLimited { retry_after: SEND_RETRY_AFTER };
            self.write(refusal(self.codec(), id, &refused)).await?;
            return if self.rate_strikes >= RATE_STRIKES_LIMIT {
                Err(Ending::Close(Close::RateLimited))
            } else {
                Ok(())
            };
        }
        self.rate_strikes = 0;
        if sends.len() >= self.state.ws.max_sends_in_flight
            && let Some(reply) = sends.next().await
        {
            self.write(reply).await?;
        }
        sends.push(self.in_room_order(id, command));
        Ok(())
    }

    /// Ends this connection's interest in a room, if it had any.
    pub(super) async fn stop_following(&mut self, room: RoomId) {
        if self.joined.remove(&room).is_some() {
            self.state.hub.unsubscribe(room, self.subscriber.id).await;
            self.state.presence.left(room, self.user).await;
            metrics::gauge!("chat_ws_joined_rooms").decrement(1.0);
        }
    }

    /// A page of a room's messages: for a joined room from the log, else after a membership check.
    /// (`&mut`: a session is `Send` but need not be `Sync`.)
    async fn history(&mut self, room: RoomId, query: PageQuery) -> Result<Value, ApiError> {
        let page = if self.joined.contains_key(&room) {
            self.state.messages.page(self.user, room, query).await
        } else {
            self.state.messages.history(self.user, room, query).await
        };
        page.map(|p| json!({ "messages": p.messages, "has_more": p.has_more })).map_err(ApiError::from)
    }

    async fn typing(&mut self, room: RoomId) -> Result<Value, ApiError> {
        if !self.joined.contains_key(&room) {
            self.state.rooms.membership(self.user, room).await?;
        }
        if !self.state.presence.typing(room, self.user).await {
            metrics::counter!("chat_typing_throttled_total").increment(1);
        }
        Ok(json!({}))
    }

    /// Subscribes first and reads afterwards, so nothing stored in between is missed; what
    /// both deliver is dropped by seq.
    async fn join(&mut self, room: RoomId, since: Option<Seq>) -> Result<Value, ApiError> {
        let room_info = self.state.rooms.join(self.user, room).await?;
        let newly = !self.joined.contains_key(&room);
        if newly {
            self.state.hub.subscribe(room, self.subscriber.clone()).await?;
            self.joined.insert(room, Seq::MAX);
        }
        let read = match since {
            Some(since) => self
                .state
                .messages
                .replay(self.user, room, since)
                .await
                .map(|r| (r.messages, Some(r.changes), r.recovered)),
            None => {
                let query = PageQuery { before: None, after: None, limit: DEFAULT_PAGE };
                self.state.messages.page(self.user, room, query).await.map(|p| (p.messages, None, true))
            }
        };
        let (messages, changes, recovered) = match read {
            Ok(read) => read,
            Err(err) => {
                if newly {
                    self.joined.remove(&room);
                    self.state.hub.unsubscribe(room, self.subscriber.id).await;
                }
                return Err(err.into());
            }
        };
        let newest_change = changes.iter().flatten().map(Entry::seq).max().unwrap_or(0);
        let newest = messages.last().map(|m| m.seq).unwrap_or(0).max(since.unwrap_or(0)).max(newest_change);
        // Until now live messages were held back (mark at MAX); from here on only those after
        // the replay pass.
        self.joined.insert(room, newest);
        let online = if newly {
            metrics::gauge!("chat_ws_joined_rooms").increment(1.0);
            self.state.presence.joined(room, self.user).await
        } else {
            self.state.presence.online(room).await
        };
        let mut reply = json!({
            "room": room_info,
            "online": online.online,
            "online_count": online.count,
            "presence": online.presence,
            "messages": messages,
            "recovered": recovered,
        });
        if let Some(changes) = changes {
            let frames: Vec<EntryFrame> = changes.iter().map(EntryFrame::of).collect();
            reply["changes"] = serde_json::to_value(frames).map_err(|_| ApiError::Internal)?;
        }
        Ok(reply)
    }

    /// The entry's work, made to wait for this connection's previous entry in the same room, so
    /// that one client's entries are stored in the order it sent them.
    fn in_room_order(&mut self, id: Option<u64>, command: EntryCommand) -> SendFuture {
        let messages = self.state.messages.clone();
        let codec = self.codec();
        let user = self.user;
        // Finished entries need no waiting for: forget them, so the map holds busy rooms only.
        self.last_send.retain(|_, done| matches!(done.try_recv(), Err(oneshot::error::TryRecvError::Empty)));
        let (done, next_waits_for) = oneshot::channel::<()>();
        let previous = self.last_send.insert(command.room(), next_waits_for);
        Box::pin(async move {
            if let Some(previous) = previous {
                // Resolves when the previous entry ends, whatever its outcome.
                let _ = previous.await;
            }
            let result = command.store(messages, user).await;
            drop(done);
            match (id, result) {
                (Some(id), Ok(message)) => encode_reply(codec, id, &MessageReply { message: &message }),
                (None, Ok(_)) => Bytes::new(),
                (id, Err(err)) => refusal(codec, id, &err),
            }
        })
    }

    fn allow_send(&self) -> bool {
        self.limiter.as_ref().is_none_or(|l| l.check().is_ok())
    }

    /// Answers a frame that could not be parsed; too many in a short time end the connection.
    pub(super) async fn malformed(&mut self, err: FrameError) -> Result<(), Ending> {
        metrics::counter!("chat_ws_malformed_frames_total").increment(1);
        if self.malformed.too_many() {
            return Err(Ending::Close(Close::MalformedFlood));
        }
        self.refuse(err).await
    }

    /// Answers a refused frame: a failed reply to its id, or an `error` frame without one.
    pub(super) async fn refuse(&mut self, err: FrameError) -> Result<(), Ending> {
        let frame = encode(self.codec(), &err.into_frame());
        Ok(self.write(frame).await?)
    }
}

/// How long until a token expires; zero if it has.
pub(super) fn until(expires_at: chrono::DateTime<chrono::Utc>, state: &AppState) -> Duration {
    (expires_at - state.clock.now()).to_std().unwrap_or(Duration::ZERO)
}

fn reply_ok(codec: Codec, id: u64, result: Value) -> Bytes {
    encode_reply(codec, id, &result)
}

/// A refused command's answer: a failed reply to its id, or an `error` frame without one.
fn refusal(codec: Codec, id: Option<u64>, err: &ApiError) -> Bytes {
    match id {
        Some(id) => encode(codec, &ServerFrame::reply_err(id, err.into())),
        None => encode(codec, &ServerFrame::Error { error: err.into() }),
    }
}
