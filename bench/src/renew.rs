//! Keeps the run's logins alive past the access token's lifetime (15 minutes by default), as
//! clients do: before a socket's token expires, its refresh token is traded for a new pair over
//! REST and the socket gets the new access token in an `auth` frame. Otherwise the nodes close
//! every socket with 4001 when its token expires.
//!
//! Each socket keeps its own login alive, once per half lifetime, their first renewals spread
//! evenly over the first half lifetime so that the refreshes come as an even trickle. A slow
//! refresh delays no other socket's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::SinkExt;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cli::Codec;
use crate::client::{self, AuthFrame};
use crate::setup::{self, Account};
use crate::target::Node;
use crate::throughput::Outbox;

/// How many renewals went through, and how many did not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Renewals {
    pub ok: u64,
    pub failed: u64,
}

/// Renewal failures told on stderr as they happen, at most; the rest are counted.
const FAILURES_TOLD: u64 = 3;
/// How soon a refresh that failed is tried again: the token still has most of its lifetime.
const RETRY: Duration = Duration::from_secs(5);
/// How long one refresh may take.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(30);

/// The logins of a run's sockets, in connection order, and where to renew them.
pub struct Renewer {
    pub codec: Codec,
    pub nodes: Vec<Node>,
    pub accounts: Vec<Account>,
    pub outboxes: Vec<Outbox>,
}

/// Time between two sockets' first renewals, so that all of `sockets` are renewed within the
/// first half `lifetime`.
pub fn first_renewals_apart(lifetime: Duration, sockets: usize) -> Duration {
    (lifetime / 2) / u32::try_from(sockets.max(1)).unwrap_or(u32::MAX)
}

impl Renewer {
    /// Keeps every socket's login alive until `stop`.
    pub async fn run(self, stop: CancellationToken) -> anyhow::Result<Renewals> {
        let Renewer { codec, nodes, accounts, outboxes } = self;
        let mut renewals = Renewals::default();
        let Some(lifetime) = accounts.iter().map(|a| a.lifetime).min() else {
            return Ok(renewals);
        };
        let http = reqwest::Client::builder().timeout(REFRESH_TIMEOUT).build()?;
        let apart = first_renewals_apart(lifetime, accounts.len());
        let failures = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let mut logins = JoinSet::new();
        for (socket, (account, outbox)) in accounts.into_iter().zip(outboxes).enumerate() {
            let login = Login {
                socket,
                http: http.clone(),
                node: nodes[socket % nodes.len()].clone(),
                codec,
                account,
                outbox,
                failures: failures.clone(),
            };
            let first = start + apart.saturating_mul(u32::try_from(socket).unwrap_or(u32::MAX));
            logins.spawn(login.keep_alive(first, lifetime / 2, stop.clone()));
        }
        while let Some(done) = logins.join_next().await {
            let one = done?;
            renewals.ok += one.ok;
            renewals.failed += one.failed;
        }
        Ok(renewals)
    }
}

/// One socket's login.
struct Login {
    socket: usize,
    http: reqwest::Client,
    node: Node,
    codec: Codec,
    account: Account,
    outbox: Outbox,
    /// Failures of every socket so far, to tell only the first few.
    failures: Arc<AtomicU64>,
}

/// Why a renewal did not go through.
#[derive(Debug, thiserror::Error)]
enum RenewalError {
    /// The refresh itself: tried again soon.
    #[error("refreshing: {0:#}")]
    Refresh(anyhow::Error),
    /// The socket would not take the frame: it is gone, and the reader reports why.
    #[error("telling the socket: {0:#}")]
    Socket(anyhow::Error),
}

impl Login {
    async fn keep_alive(mut self, first: Instant, every: Duration, stop: CancellationToken) -> Renewals {
        let mut renewals = Renewals::default();
        let mut at = first;
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                () = tokio::time::sleep_until(at) => {}
            }
            match self.renew().await {
                Ok(()) => {
                    renewals.ok += 1;
                    at += every;
                }
                Err(err) => {
                    renewals.failed += 1;
                    if self.failures.fetch_add(1, Ordering::Relaxed) < FAILURES_TOLD {
                        eprintln!("WARNING: socket {}'s login was not renewed: {err}", self.socket);
                    }
                    match err {
                        RenewalError::Refresh(_) => at = Instant::now() + RETRY,
                        RenewalError::Socket(_) => break,
                    }
                }
            }
        }
        renewals
    }

    async fn renew(&mut self) -> Result<(), RenewalError> {
        let renewed =
            setup::refresh(&self.http, &self.node, &self.account).await.map_err(RenewalError::Refresh)?;
        // The old refresh token is spent whether or not the frame gets through.
        self.account = renewed;
        let frame = client::encode(self.codec, &AuthFrame { kind: "auth", token: &self.account.token })
            .map_err(RenewalError::Socket)?;
        self.outbox.lock().await.send(frame).await.map_err(|e| RenewalError::Socket(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_socket_is_first_renewed_within_half_a_lifetime() {
        let lifetime = Duration::from_secs(15 * 60);
        assert_eq!(first_renewals_apart(lifetime, 1000), Duration::from_millis(450));
        assert_eq!(first_renewals_apart(lifetime, 1), Duration::from_secs(450));
        assert_eq!(first_renewals_apart(lifetime, 0), Duration::from_secs(450));
    }
}
