//! The `token-check` scenario: what the ended-login check adds to the authentication of a REST
//! request and of a WebSocket, timed one check at a time in this process with the node's own
//! code (`JwtIssuer::verify`, then `LoginRevocations::is_revoked` over Redis).
//!
//! Cases: the signature check alone (all a request did before); with the login looked up within
//! the last second (an active client's steady state); with a login this node heard had ended;
//! and with a login never seen, which costs a Redis round trip (a login's first request of
//! each second).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chat_adapters::jwt::JwtIssuer;
use chat_adapters::redis::RedisPresence;
use chat_adapters::redis_logins::RedisRevokedLogins;
use chat_shared::domain::{LoginId, UserId};
use chat_shared::memory::MemoryLoginAnnouncements;
use chat_shared::ports::{Clock, LoginEnded, LoginSockets, SystemClock, TokenIssuer};
use chat_shared::usecases::LoginRevocations;
use hdrhistogram::Histogram;

use crate::cli::TokenCheckArgs;
use crate::setup::run_prefix;

/// A node without sockets: the check is timed, not what a revocation closes.
struct NoSockets;

impl LoginSockets for NoSockets {
    fn close(&self, _: LoginId) -> usize {
        0
    }
}

/// Nanoseconds per check of one case.
struct Timed {
    case: &'static str,
    ns: Histogram<u64>,
}

impl Timed {
    fn new(case: &'static str) -> Self {
        Self { case, ns: Histogram::new(3).expect("a histogram of 3 significant digits") }
    }

    fn print(&self) {
        let q = |q: f64| self.ns.value_at_quantile(q);
        println!(
            "{:<44} n={:>7}  p50 {:>7} ns  p90 {:>7} ns  p99 {:>7} ns",
            self.case,
            self.ns.len(),
            q(0.5),
            q(0.9),
            q(0.99)
        );
    }
}

pub async fn main(args: TokenCheckArgs) -> anyhow::Result<ExitCode> {
    args.validate()?;
    let prefix = format!("bench_token_{}", run_prefix());
    let presence = RedisPresence::connect(&args.redis_url, &prefix, "bench").await.context("Redis")?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ttl = chrono::Duration::minutes(15);
    let revocations = LoginRevocations::new(
        Arc::new(RedisRevokedLogins::sharing(&presence)),
        Arc::new(MemoryLoginAnnouncements::default()),
        Arc::new(NoSockets),
        clock.clone(),
        ttl,
    );
    let issuer = JwtIssuer::new(&[7u8; 32], ttl);
    let user = UserId::generate();
    let active = LoginId::generate();
    let token = issuer.issue(user, active, clock.now()).token;
    let ended = LoginId::generate();
    revocations.revoke(LoginEnded { login: ended, user }).await;
    let ended_token = issuer.issue(user, ended, clock.now()).token;
    // Warm up: the first lookups open nothing new, but the caches and the connection settle.
    for _ in 0..1000 {
        verify_and_check(&issuer, &revocations, &token, clock.now()).await;
    }

    let mut verify = Timed::new("signature and expiry only (before)");
    for _ in 0..args.iterations {
        let started = Instant::now();
        let claims = issuer.verify(&token, clock.now()).expect("a valid token");
        std::hint::black_box(claims);
        record(&mut verify, started);
    }
    let mut cached = Timed::new("+ check, looked up within the second");
    for _ in 0..args.iterations {
        let started = Instant::now();
        assert!(!verify_and_check(&issuer, &revocations, &token, clock.now()).await);
        record(&mut cached, started);
    }
    let mut heard = Timed::new("+ check, a login this node heard had ended");
    for _ in 0..args.iterations {
        let started = Instant::now();
        assert!(verify_and_check(&issuer, &revocations, &ended_token, clock.now()).await);
        record(&mut heard, started);
    }
    // A token of a login never seen each time: every check asks Redis.
    let tokens: Vec<String> = (0..args.iterations / 10)
        .map(|_| issuer.issue(user, LoginId::generate(), clock.now()).token)
        .collect();
    let mut lookup = Timed::new("+ check, a login unseen: one Redis EXISTS");
    for token in &tokens {
        let started = Instant::now();
        assert!(!verify_and_check(&issuer, &revocations, token, clock.now()).await);
        record(&mut lookup, started);
    }
    presence.close().await;

    for timed in [&verify, &cached, &heard, &lookup] {
        timed.print();
    }
    Ok(ExitCode::SUCCESS)
}

/// What the node's extractor does with a bearer token: verify it, then check its login.
async fn verify_and_check(
    issuer: &JwtIssuer,
    revocations: &LoginRevocations,
    token: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    let claims = issuer.verify(token, now).expect("a valid token");
    revocations.is_revoked(claims.login.expect("tokens name their login")).await
}

fn record(timed: &mut Timed, started: Instant) {
    let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    timed.ns.record(ns.max(1)).expect("within the histogram's range");
}
