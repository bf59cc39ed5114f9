//! The `rest-mix` scenario: closed-loop REST clients spread over the nodes, each a member of a
//! room of `--members` that holds a few thousand messages, doing a weighted mix of history
//! pages, room lists, `GET /users/me` and sends. Reports requests/s and latency per route.

use std::fmt;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::ensure;
use clap::Args;
use futures::{StreamExt, TryStreamExt, stream};
use serde::Serialize;
use serde_json::json;

use crate::latency::{Latencies, Summary};
use crate::report::Machine;
use crate::setup::{self, Fixture};
use crate::target::{self, Node};

/// A route of the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /rooms/{id}/messages?limit=50`: the newest page of the client's room.
    History,
    /// `GET /rooms`: the client's rooms with unread counts.
    Rooms,
    /// `GET /users/me`.
    Me,
    /// `POST /rooms/{id}/messages`: a message to the client's room.
    Send,
}

impl Route {
    pub const ALL: [Route; 4] = [Route::History, Route::Rooms, Route::Me, Route::Send];

    /// The name in `--mix` and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Route::History => "history",
            Route::Rooms => "rooms",
            Route::Me => "me",
            Route::Send => "send",
        }
    }
}

/// How `--mix` can be wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeightsError {
    #[error("`{0}` is not ROUTE=WEIGHT")]
    NotAPair(String),
    #[error("unknown route `{0}` (history, rooms, me, send)")]
    UnknownRoute(String),
    #[error("the weight of {0} is not a whole number from 0 to 1000")]
    BadWeight(&'static str),
    #[error("every weight is 0")]
    Empty,
}

/// Relative weights of the routes, in the order of [`Route::ALL`]; routes left out weigh 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weights(pub [u32; 4]);

impl FromStr for Weights {
    type Err = WeightsError;

    fn from_str(s: &str) -> Result<Self, WeightsError> {
        let mut weights = [0; 4];
        for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = pair.split_once('=').ok_or_else(|| WeightsError::NotAPair(pair.into()))?;
            let index = Route::ALL
                .iter()
                .position(|r| r.name() == name.trim())
                .ok_or_else(|| WeightsError::UnknownRoute(name.trim().into()))?;
            let route = Route::ALL[index];
            weights[index] = weight
                .trim()
                .parse()
                .ok()
                .filter(|w| *w <= 1000)
                .ok_or(WeightsError::BadWeight(route.name()))?;
        }
        if weights.iter().all(|w| *w == 0) {
            return Err(WeightsError::Empty);
        }
        Ok(Weights(weights))
    }
}

impl fmt::Display for Weights {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let pairs: Vec<String> =
            Route::ALL.iter().zip(self.0).map(|(r, w)| format!("{}={w}", r.name())).collect();
        f.write_str(&pairs.join(","))
    }
}

impl Weights {
    /// One cycle of routes in these proportions, spread out by smooth weighted round-robin: each
    /// client walks it from its own starting point, so the routes do not come in waves.
    pub fn cycle(&self) -> Vec<Route> {
        let total: i64 = self.0.iter().map(|w| i64::from(*w)).sum();
        let mut current = [0i64; 4];
        (0..total)
            .map(|_| {
                for (c, w) in current.iter_mut().zip(self.0) {
                    *c += i64::from(w);
                }
                let pick = (0..4).max_by_key(|&i| (current[i], std::cmp::Reverse(i))).unwrap_or(0);
                current[pick] -= total;
                Route::ALL[pick]
            })
            .collect()
    }
}

#[derive(Debug, Clone, Args)]
pub struct RestMixArgs {
    /// Base URLs of the nodes (loopback only), comma separated; clients are spread over them
    /// round-robin.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:8080,http://127.0.0.1:8082")]
    pub nodes: Vec<String>,
    /// Closed-loop clients, each with one request outstanding at a time.
    #[arg(long, default_value_t = 50)]
    pub clients: u32,
    /// Members per room; there are `clients / members` rooms (at least one), and client `i`
    /// is member `i` of them.
    #[arg(long, default_value_t = 10)]
    pub members: u32,
    /// Messages sent to each room over REST before the run.
    #[arg(long, default_value_t = 3000)]
    pub seed_messages: u32,
    /// Relative weights of the routes.
    #[arg(long, default_value = "history=40,rooms=20,me=20,send=20")]
    pub mix: Weights,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// Seconds of the mix before measuring starts.
    #[arg(long, default_value_t = 5.0)]
    pub warmup: f64,
    /// Bytes of each sent message's content.
    #[arg(long, default_value_t = 100)]
    pub content_bytes: usize,
    /// REST calls in flight while registering, creating rooms and seeding them.
    #[arg(long, default_value_t = 16)]
    pub setup_concurrency: usize,
    /// Free text copied into the RESULT line.
    #[arg(long)]
    pub label: Option<String>,
}

impl RestMixArgs {
    pub fn validate(&self) -> anyhow::Result<()> {
        ensure!(self.clients >= 1, "--clients must be at least 1");
        ensure!((1..=1001).contains(&self.members), "--members must be 1 to 1001");
        ensure!(self.duration > 0.0 && self.duration.is_finite(), "--duration must be above 0");
        ensure!(self.warmup >= 0.0 && self.warmup.is_finite(), "--warmup must be 0 or more");
        ensure!((1..=4000).contains(&self.content_bytes), "--content-bytes must be 1 to 4000");
        ensure!(self.setup_concurrency >= 1, "--setup-concurrency must be at least 1");
        Ok(())
    }

    fn rooms(&self) -> u32 {
        self.clients.div_ceil(self.members)
    }
}

/// One route's figures over the measured window.
#[derive(Debug, Serialize)]
struct RouteResult {
    route: &'static str,
    per_sec: f64,
    errors: u64,
    latency: Summary,
}

/// What one client saw in the measured window.
struct ClientTally {
    latencies: Vec<Latencies>,
    errors: [u64; 4],
}

pub async fn main(args: RestMixArgs) -> anyhow::Result<ExitCode> {
    args.validate()?;
    let nodes = target::parse_nodes(&args.nodes)?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    let fixture = setup::create(&http, &nodes, args.rooms(), args.members, args.setup_concurrency).await?;
    let seeded = Instant::now();
    seed(&http, &nodes, &fixture, &args).await?;
    eprintln!(
        "rest-mix: {} users in {} rooms, {} messages each (seeded in {:.1} s)",
        fixture.accounts.len(),
        fixture.rooms.len(),
        args.seed_messages,
        seeded.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let measure_from = started + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);
    let cycle = args.mix.cycle();
    let clients = (0..args.clients as usize).map(|i| {
        let client = Client {
            http: http.clone(),
            node: nodes[i % nodes.len()].clone(),
            token: fixture.accounts[i % fixture.accounts.len()].token.clone(),
            room: fixture.rooms[(i % fixture.accounts.len()) / args.members as usize].clone(),
            content: "m".repeat(args.content_bytes),
        };
        let cycle = cycle.clone();
        tokio::spawn(async move { client.run(&cycle, i, measure_from, end).await })
    });
    let mut latencies: Vec<Latencies> = Route::ALL.iter().map(|_| Latencies::new()).collect();
    let mut errors = [0u64; 4];
    for tally in futures::future::try_join_all(clients).await? {
        for (into, from) in latencies.iter_mut().zip(&tally.latencies) {
            into.merge(from);
        }
        for (into, from) in errors.iter_mut().zip(tally.errors) {
            *into += from;
        }
    }

    let seconds = args.duration;
    let results: Vec<RouteResult> = Route::ALL
        .iter()
        .enumerate()
        .filter(|(i, _)| args.mix.0[*i] > 0)
        .map(|(i, route)| RouteResult {
            route: route.name(),
            per_sec: latencies[i].count() as f64 / seconds,
            errors: errors[i],
            latency: latencies[i].summary(),
        })
        .collect();
    let total: f64 = results.iter().map(|r| r.per_sec).sum();
    print_table(&args, total, &results);
    let ok = errors.iter().all(|e| *e == 0);
    let line = json!({
        "bench": "chat-bench",
        "version": env!("CARGO_PKG_VERSION"),
        "scenario": "rest-mix",
        "label": args.label,
        "ok": ok,
        "params": {"nodes": nodes.len(), "clients": args.clients, "members": args.members,
                   "rooms": fixture.rooms.len(), "seed_messages": args.seed_messages,
                   "mix": args.mix.to_string(), "duration": args.duration, "warmup": args.warmup},
        "machine": Machine::detect(),
        "results": {"requests_per_sec": total, "routes": results},
    });
    println!("RESULT {line}");
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Sends `--seed-messages` to each room, from its members in turn.
async fn seed(
    http: &reqwest::Client,
    nodes: &[Node],
    fixture: &Fixture,
    args: &RestMixArgs,
) -> anyhow::Result<()> {
    let members = args.members as usize;
    let sends =
        (0..fixture.rooms.len()).flat_map(|room| (0..args.seed_messages as usize).map(move |n| (room, n)));
    stream::iter(sends)
        .map(|(room, n)| {
            let account = &fixture.accounts[room * members + n % members];
            let url = nodes[n % nodes.len()].url(&format!("/rooms/{}/messages", fixture.rooms[room]));
            let body = json!({ "content": format!("seed {n}") });
            async move {
                setup::post::<serde_json::Value>(
                    http,
                    &url,
                    Some(&account.token),
                    &body,
                    reqwest::StatusCode::CREATED,
                )
                .await
            }
        })
        .buffer_unordered(args.setup_concurrency)
        .try_for_each(|_| async { Ok(()) })
        .await
}

/// One closed-loop client: one request at a time, as one user, to one node.
struct Client {
    http: reqwest::Client,
    node: Node,
    token: String,
    room: String,
    content: String,
}

impl Client {
    async fn run(&self, cycle: &[Route], offset: usize, measure_from: Instant, end: Instant) -> ClientTally {
        let mut tally =
            ClientTally { latencies: Route::ALL.iter().map(|_| Latencies::new()).collect(), errors: [0; 4] };
        let mut step = offset;
        loop {
            let route = cycle[step % cycle.len()];
            step += 1;
            let started = Instant::now();
            if started >= end {
                return tally;
            }
            let ok = self.request(route).await;
            let took = started.elapsed();
            if started < measure_from {
                continue;
            }
            let index = Route::ALL.iter().position(|r| *r == route).unwrap_or(0);
            match ok {
                Ok(()) => {
                    tally.latencies[index].record(0, u64::try_from(took.as_nanos()).unwrap_or(u64::MAX))
                }
                Err(err) => {
                    if tally.errors[index] == 0 {
                        eprintln!("rest-mix: {} failed: {err:#}", route.name());
                    }
                    tally.errors[index] += 1;
                }
            }
        }
    }

    /// One request of `route`, until its whole body has arrived; an error unless it succeeded.
    async fn request(&self, route: Route) -> anyhow::Result<()> {
        let request = match route {
            Route::History => {
                self.http.get(self.node.url(&format!("/rooms/{}/messages?limit=50", self.room)))
            }
            Route::Rooms => self.http.get(self.node.url("/rooms")),
            Route::Me => self.http.get(self.node.url("/users/me")),
            Route::Send => self
                .http
                .post(self.node.url(&format!("/rooms/{}/messages", self.room)))
                .json(&json!({ "content": self.content })),
        };
        let response = request.bearer_auth(&self.token).send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        ensure!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&body));
        Ok(())
    }
}

fn print_table(args: &RestMixArgs, total: f64, results: &[RouteResult]) {
    println!(
        "rest-mix: {} clients over {} nodes, mix {}, {:.0} s measured: {total:.0} requests/s; times in ms",
        args.clients,
        args.nodes.len(),
        args.mix,
        args.duration
    );
    println!(
        "  {:<8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "route", "req/s", "p50", "p95", "p99", "max", "errors"
    );
    for r in results {
        let s = &r.latency;
        println!(
            "  {:<8} {:>8.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7}",
            r.route, r.per_sec, s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms, r.errors
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_read_by_route_name_and_left_out_routes_weigh_nothing() {
        let weights: Weights = "history=40, send=20".parse().unwrap();
        assert_eq!(weights, Weights([40, 0, 0, 20]));
        assert_eq!(weights.to_string(), "history=40,rooms=0,me=0,send=20");
        assert_eq!("history=0".parse::<Weights>(), Err(WeightsError::Empty));
        assert_eq!("lists=1".parse::<Weights>(), Err(WeightsError::UnknownRoute("lists".into())));
        assert_eq!("history".parse::<Weights>(), Err(WeightsError::NotAPair("history".into())));
        assert_eq!("me=-1".parse::<Weights>(), Err(WeightsError::BadWeight("me")));
    }

    #[test]
    fn a_cycle_holds_each_route_in_proportion_and_spreads_them_out() {
        let cycle = Weights([40, 20, 20, 20]).cycle();
        assert_eq!(cycle.len(), 100);
        for (route, weight) in Route::ALL.iter().zip([40, 20, 20, 20]) {
            assert_eq!(cycle.iter().filter(|r| *r == route).count(), weight);
        }
        assert!(cycle.windows(2).all(|w| w[0] != w[1] || w[0] == Route::History));
        assert!(cycle.windows(3).all(|w| !(w[0] == w[1] && w[1] == w[2])));
    }
}
