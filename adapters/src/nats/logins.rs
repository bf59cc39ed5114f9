//! Ended logins announced over core NATS, on `{P}.logins.ended`: every node subscribes, and
//! closes the login's sockets it holds.

use async_trait::async_trait;
use chat_shared::ports::{LoginAnnouncements, LoginEnded, LoginEndedStream, RevocationError};
use futures::StreamExt;

use super::log::NatsLog;

/// The announcements of a deployment: the same connection and prefix as its message log.
#[derive(Clone)]
pub struct NatsLoginAnnouncements {
    log: NatsLog,
}

impl NatsLoginAnnouncements {
    pub fn new(log: NatsLog) -> Self {
        Self { log }
    }
}

#[async_trait]
impl LoginAnnouncements for NatsLoginAnnouncements {
    async fn announce(&self, ended: &LoginEnded) -> Result<(), RevocationError> {
        let payload = rmp_serde::to_vec_named(ended).map_err(RevocationError::new)?;
        let subject = self.log.names.logins_ended();
        // While the connection is down, the client keeps what it publishes and sends it once
        // reconnected.
        self.log.client.publish(subject, payload.into()).await.map_err(RevocationError::new)
    }

    async fn subscribe(&self) -> Result<LoginEndedStream, RevocationError> {
        let subject = self.log.names.logins_ended();
        let subscriber = self.log.client.subscribe(subject).await.map_err(RevocationError::new)?;
        let ended = subscriber.filter_map(|message| async move {
            match rmp_serde::from_slice::<LoginEnded>(&message.payload) {
                Ok(ended) => Some(ended),
                Err(err) => {
                    tracing::warn!(error = %err, "skipped an unreadable login announcement");
                    None
                }
            }
        });
        Ok(Box::pin(ended))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chat_shared::domain::{LoginId, UserId};

    use super::*;
    use crate::nats::testing::TestLog;

    #[tokio::test]
    async fn something_unreadable_is_skipped_and_later_announcements_still_arrive() {
        let log = TestLog::start().await;
        let announcements = NatsLoginAnnouncements::new((*log).clone());
        let mut heard = announcements.subscribe().await.unwrap();
        log.client.publish(log.names.logins_ended(), "not MessagePack".into()).await.unwrap();
        let ended = LoginEnded { login: LoginId::generate(), user: UserId::generate() };

        announcements.announce(&ended).await.unwrap();

        let got = tokio::time::timeout(Duration::from_secs(2), heard.next()).await.unwrap();
        assert_eq!(got, Some(ended));
    }
}
