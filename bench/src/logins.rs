//! Logins during a throughput run: `POST /auth/login` at a fixed rate over the measured window,
//! as users opening the app while others chat. The load is open-loop (a login starts on its
//! schedule whether or not earlier ones have finished) and each latency counts from the
//! scheduled start, so a server that stalls shows its queue instead of slowing the bench down.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde::Serialize;
use serde_json::json;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::latency::{Clock, Latencies, Summary};
use crate::setup::{self, PASSWORD};
use crate::target::Node;

/// How long one login may take before it counts as failed.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What the logins of a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoginResults {
    /// Logins started (on schedule) within the window.
    pub attempted: u64,
    /// Answered 200 with a token.
    pub ok: u64,
    /// The rest, by status or error.
    pub failed: BTreeMap<String, u64>,
    pub per_sec: f64,
    /// From each login's scheduled start to its complete response, successful ones only.
    pub latency: Summary,
}

/// The accounts logins use: the run's users, taken in turn, each at a node in turn.
pub struct LoginLoad {
    pub rate: f64,
    pub nodes: Vec<Node>,
    pub prefix: String,
    pub users: usize,
}

impl LoginLoad {
    /// Logs in at `rate` per second from `from` until `to`, then waits for every login started.
    pub async fn run(self, clock: Clock, from: Instant, to: Instant) -> anyhow::Result<LoginResults> {
        anyhow::ensure!(self.users > 0 && !self.nodes.is_empty(), "logins need users and nodes");
        let http = reqwest::Client::builder().timeout(LOGIN_TIMEOUT).build()?;
        let every = Duration::from_secs_f64(1.0 / self.rate);
        let mut logins = JoinSet::new();
        for k in 0.. {
            let due = from + every.mul_f64(k as f64);
            if due >= to {
                break;
            }
            tokio::time::sleep_until(due).await;
            let url = self.nodes[k % self.nodes.len()].url("/auth/login");
            let body =
                json!({ "username": setup::username(&self.prefix, k % self.users), "password": PASSWORD });
            let scheduled = clock.at(due.into_std());
            let http = http.clone();
            logins.spawn(async move { (scheduled, login(&http, &url, &body).await, clock.now()) });
        }
        let mut results = LoginResults::default();
        let mut latencies = Latencies::new();
        while let Some(done) = logins.join_next().await {
            let (scheduled, outcome, finished) = done?;
            results.attempted += 1;
            match outcome {
                Ok(()) => {
                    results.ok += 1;
                    latencies.record(scheduled, finished);
                }
                Err(kind) => *results.failed.entry(kind).or_default() += 1,
            }
        }
        let secs = to.saturating_duration_since(from).as_secs_f64();
        results.per_sec = if secs > 0.0 { results.attempted as f64 / secs } else { 0.0 };
        results.latency = latencies.summary();
        Ok(results)
    }
}

/// One login, read to the end of its body; the error names what went wrong.
async fn login(http: &reqwest::Client, url: &str, body: &serde_json::Value) -> Result<(), String> {
    let response = http.post(url).json(body).send().await.map_err(error_kind)?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.map_err(error_kind)?;
    if status != StatusCode::OK {
        let code = body["error"]["code"].as_str().unwrap_or("?");
        return Err(format!("{} {code}", status.as_u16()));
    }
    if body["access_token"].as_str().is_none_or(str::is_empty) {
        return Err("200 without access_token".into());
    }
    Ok(())
}

fn error_kind(err: reqwest::Error) -> String {
    if err.is_timeout() {
        "timeout".into()
    } else if err.is_connect() {
        "connect error".into()
    } else if err.is_decode() {
        "undecodable body".into()
    } else {
        "request error".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn logins_start_on_schedule_and_failures_are_named() {
        // A port nothing listens on: every login fails to connect, and all are still counted.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let node = Node::parse(&format!("http://{}", closed.local_addr().unwrap())).unwrap();
        drop(closed);
        let load = LoginLoad { rate: 100.0, nodes: vec![node], prefix: "p".into(), users: 3 };
        let from = Instant::now();

        let results = load.run(Clock::start(), from, from + Duration::from_millis(100)).await.unwrap();

        assert_eq!(results.attempted, 10);
        assert_eq!(results.ok, 0);
        assert_eq!(results.failed.get("connect error"), Some(&10));
        assert!((results.per_sec - 100.0).abs() < 1e-6);
        assert_eq!(results.latency.count, 0);
    }
}
