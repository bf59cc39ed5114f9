//! A webhook receiver for tests: a real HTTP server on a free port of 127.0.0.1 that keeps
//! every request, answers as a test tells it (a status, or a hang), and checks signatures the
//! way the Standard Webhooks specification tells receivers to, with its own HMAC.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::Notify;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
    /// What this receiver answered.
    pub answered: u16,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    /// Whether the signature is the HMAC-SHA256 of `{id}.{timestamp}.{body}` under `secret`
    /// (`whsec_` and the base64 key), and the timestamp within five minutes of now.
    pub fn verifies_with(&self, secret: &str) -> bool {
        let Some(key) = secret.strip_prefix("whsec_").and_then(|k| STANDARD.decode(k).ok()) else {
            return false;
        };
        let Ok(timestamp) = self.timestamp.parse::<i64>() else { return false };
        if (chrono::Utc::now().timestamp() - timestamp).abs() > 300 {
            return false;
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
        mac.update(format!("{}.{}.{}", self.id, self.timestamp, self.body).as_bytes());
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        self.signature.split(' ').any(|signature| signature == expected)
    }
}

/// How the receiver answers the next requests.
#[derive(Default)]
struct Behaviour {
    /// Requests still to answer with 503.
    failures_left: usize,
    /// Answer every request with this status from now on (after `failures_left`).
    status: Option<u16>,
    /// Hold every answer this long.
    delay: Option<Duration>,
}

#[derive(Default)]
struct Shared {
    /// The `webhook-id` of every request as it arrives, before it is answered.
    arrivals: Mutex<Vec<String>>,
    received: Mutex<Vec<Received>>,
    behaviour: Mutex<Behaviour>,
    arrived: Notify,
}

/// The server; stops when dropped.
pub struct WebhookReceiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let addr = listener.local_addr().expect("a bound address");
        let shared = Arc::new(Shared::default());
        let app = Router::new().route("/{*path}", post(receive)).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Answers the next `count` requests with 503.
    pub fn fail_next(&self, count: usize) {
        self.shared.behaviour.lock().unwrap().failures_left = count;
    }

    /// Answers every request with `status` from now on (`None`: 200 again).
    pub fn answer(&self, status: Option<u16>) {
        self.shared.behaviour.lock().unwrap().status = status;
    }

    /// Holds every answer `delay` long from now on.
    pub fn delay(&self, delay: Option<Duration>) {
        self.shared.behaviour.lock().unwrap().delay = delay;
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits until `count` requests have been answered with a 2xx, or `wait` passes; every
    /// request received by then.
    pub async fn wait_for_delivered(&self, count: usize, wait: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let arrived = self.shared.arrived.notified();
            let received = self.received();
            let delivered = received.iter().filter(|r| (200..300).contains(&r.answered)).count();
            if delivered >= count || tokio::time::Instant::now() >= deadline {
                return received;
            }
            let _ = tokio::time::timeout_at(deadline, arrived).await;
        }
    }

    /// Waits until `count` requests have arrived, answered or not (a held one too), or `wait`
    /// passes; the `webhook-id` of each arrived by then.
    pub async fn wait_for_arrivals(&self, count: usize, wait: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let arrived = self.shared.arrived.notified();
            let arrivals = self.shared.arrivals.lock().unwrap().clone();
            if arrivals.len() >= count || tokio::time::Instant::now() >= deadline {
                return arrivals;
            }
            let _ = tokio::time::timeout_at(deadline, arrived).await;
        }
    }

    /// The requests answered with a 2xx.
    pub fn delivered(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| (200..300).contains(&r.answered)).collect()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    shared.arrivals.lock().unwrap().push(header("webhook-id"));
    shared.arrived.notify_waiters();
    let (status, delay) = {
        let mut behaviour = shared.behaviour.lock().unwrap();
        let status = if behaviour.failures_left > 0 {
            behaviour.failures_left -= 1;
            503
        } else {
            behaviour.status.unwrap_or(200)
        };
        (status, behaviour.delay)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    shared.received.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: String::from_utf8_lossy(&body).into_owned(),
        answered: status,
    });
    shared.arrived.notify_waiters();
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
