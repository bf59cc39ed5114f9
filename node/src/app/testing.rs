//! A node's state over an embedded database in a folder of its own, for unit tests of what runs
//! on it (the WebSocket session): the same use cases and adapters as a real embedded node, on a
//! clock that tokio's paused time moves.

use std::path::PathBuf;
use std::sync::Arc;

use chat_shared::domain::{Password, RoomId, RoomName, RoomType, UserId, Username};
use chat_shared::memory::TokioClock;
use chat_shared::usecases::{NewRoom, Registration};
use clap::Parser;

use super::{assemble, embedded, follow_revocations};
use crate::config::Cli;
use crate::state::AppState;

/// The state, and the folder that holds its database until the test ends.
pub struct TestState {
    pub state: AppState,
    folder: PathBuf,
}

impl TestState {
    /// A fresh embedded node's state; `args` are node flags on top of fast password hashing.
    pub async fn new(args: &[&str]) -> Self {
        let folder = std::env::temp_dir().join(format!("chat-node-state-{}", uuid::Uuid::new_v4().simple()));
        let folder_arg = folder.display().to_string();
        let mut argv = vec![
            "chat-node",
            "--data-dir",
            &folder_arg,
            "--argon2-memory-kib",
            "64",
            "--argon2-iterations",
            "1",
        ];
        argv.extend_from_slice(args);
        let config = Cli::try_parse_from(argv).expect("valid test flags").config;
        let backends = embedded::open(&config).await.expect("an embedded database opens");
        // Tests that pause tokio's time move token expiry with it.
        let (state, _webhooks) =
            assemble(&config, backends, Arc::new(TokioClock::new())).expect("the use cases assemble");
        tokio::spawn(follow_revocations(&state).await.expect("the node hears of ended logins"));
        Self { state, folder }
    }

    /// Registers a user.
    pub async fn user(&self, name: &str) -> UserId {
        let registration = Registration {
            username: Username::parse(name).unwrap(),
            password: Password::parse("correct horse battery").unwrap(),
            display_name: None,
        };
        self.state.auth.register(registration).await.expect("registration succeeds").user.id
    }

    /// A group room of `owner` with `members`.
    pub async fn room(&self, owner: UserId, members: &[UserId]) -> RoomId {
        let request = NewRoom {
            name: Some(RoomName::parse("a room").unwrap()),
            room_type: RoomType::Group,
            member_ids: members.to_vec(),
        };
        self.state.rooms.create(owner, request).await.expect("the room is created").room.id
    }
}

impl Drop for TestState {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}
