//! Webhook deliveries over HTTP(S), with reqwest on rustls (ring) and the system's trusted
//! certificates.

use std::time::Duration;

use async_trait::async_trait;
use chat_shared::ports::{SendError, WebhookSender};

/// POSTs deliveries, each within a time limit, following no redirect (a receiver that moved
/// answers 3xx, which counts as a failure an operator sees in the deliveries).
#[derive(Clone)]
pub struct HttpWebhookSender {
    client: reqwest::Client,
}

impl HttpWebhookSender {
    /// A sender whose attempts, connecting included, end after `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("chat-node/", env!("CARGO_PKG_VERSION"), " (webhooks)"))
            .build()?;
        Ok(Self { client })
    }
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: &str,
    ) -> Result<u16, SendError> {
        let mut request = self.client.post(url).body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        match request.send().await {
            // The answer's body is not read: only its status counts.
            Ok(response) => Ok(response.status().as_u16()),
            Err(err) if err.is_timeout() => Err(SendError::Timeout),
            Err(err) if err.is_connect() => Err(SendError::Connect),
            Err(err) => Err(SendError::Other(err.without_url().to_string())),
        }
    }
}
