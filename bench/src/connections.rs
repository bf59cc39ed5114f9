//! The `connections` scenario: opens many authenticated WebSockets spread over the nodes, holds
//! them idle, and reports the connect rate and what each node's resident memory grew by per
//! connection.

use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt, stream};
use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::cli::ConnectionsArgs;
use crate::client::{self, Socket};
use crate::report::Machine;
use crate::setup;
use crate::target::{self, Node};
use crate::versions;

/// How long the nodes get to settle after the last connection, before memory is read.
const SETTLE: Duration = Duration::from_secs(2);

/// One node's memory before and after the connections.
#[derive(Debug, Clone, Serialize)]
pub struct NodeMemory {
    pub node: String,
    pub pid: u32,
    pub connections: u64,
    pub rss_before_bytes: u64,
    pub rss_after_bytes: u64,
    pub bytes_per_connection: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConnectionsResults {
    pub opened: u64,
    pub failed: u64,
    pub connect_secs: f64,
    pub connects_per_sec: f64,
    /// Sockets the server closed while they were held idle.
    pub closed_while_held: u64,
    pub nodes: Vec<NodeMemory>,
}

pub async fn main(args: ConnectionsArgs) -> anyhow::Result<ExitCode> {
    args.validate()?;
    let nodes = target::parse_nodes(&args.nodes)?;
    let http = reqwest::Client::new();
    let rooms = args.users.div_ceil(args.members);
    // Read before the accounts are made: registering them hashes passwords on the node, and
    // the allocator keeps tens of MiB of that for a while (about 20 s measured) before giving
    // them back. A baseline read right after would count them, then lose them by the time the
    // sockets are measured, and understate what each socket costs. Hold the sockets long
    // enough (`--hold`) for that memory to be gone from the figure after.
    let rss_before: Vec<u64> = args.pids.iter().map(|&pid| resident_bytes(pid)).collect::<Result<_, _>>()?;
    let fixture = setup::create(&http, &nodes, rooms, args.members, args.setup_concurrency).await?;

    let started = Instant::now();
    let failed = AtomicU64::new(0);
    let sockets: Vec<(usize, Socket)> = stream::iter(0..args.connections as usize)
        .map(|i| {
            let node_index = i % nodes.len();
            let account = &fixture.accounts[i % fixture.accounts.len()];
            let room = &fixture.rooms[(i % fixture.accounts.len()) / args.members as usize];
            let local = (!args.bind.is_empty()).then(|| args.bind[i % args.bind.len()]);
            let failed = &failed;
            open(&nodes[node_index], &account.token, room, args.join, local).map(move |opened| match opened {
                Ok(ws) => Some((node_index, ws)),
                Err(err) => {
                    if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                        eprintln!("connection {i} failed: {err:#}");
                    }
                    None
                }
            })
        })
        .buffer_unordered(args.concurrency)
        .filter_map(std::future::ready)
        .collect()
        .await;
    let connect_secs = started.elapsed().as_secs_f64();
    let opened = sockets.len() as u64;

    // Idle, but read: the server's pings must be answered, and a close must be noticed.
    let closed = Arc::new(AtomicU64::new(0));
    let stop = CancellationToken::new();
    let mut per_node = vec![0u64; nodes.len()];
    let mut holders = Vec::with_capacity(sockets.len());
    for (node_index, ws) in sockets {
        per_node[node_index] += 1;
        holders.push(tokio::spawn(hold(ws, closed.clone(), stop.clone())));
    }
    tokio::time::sleep(SETTLE + Duration::from_secs_f64(args.hold)).await;
    let rss_after: Vec<u64> = args.pids.iter().map(|&pid| resident_bytes(pid)).collect::<Result<_, _>>()?;
    stop.cancel();
    for holder in holders {
        let _ = holder.await;
    }

    let results = ConnectionsResults {
        opened,
        failed: failed.into_inner(),
        connect_secs,
        connects_per_sec: opened as f64 / connect_secs.max(f64::EPSILON),
        closed_while_held: closed.load(Ordering::Relaxed),
        nodes: memory_per_node(&nodes, &args.pids, &per_node, &rss_before, &rss_after),
    };
    print!("{}", table(&results));
    let ok = results.failed == 0 && results.closed_while_held == 0;
    let mut versions = versions::bench();
    versions::add_nodes(&mut versions, &nodes).await;
    let line = json!({
        "bench": "chat-bench",
        "version": env!("CARGO_PKG_VERSION"),
        "scenario": "connections",
        "label": args.label,
        "ok": ok,
        "params": {
            "nodes": args.nodes, "connections": args.connections, "users": fixture.accounts.len(),
            "join": args.join, "bind": args.bind, "hold_secs": args.hold,
        },
        "machine": Machine::detect(),
        "versions": versions,
        "results": results,
    });
    println!("RESULT {line}");
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn open(
    node: &Node,
    token: &str,
    room: &str,
    join: bool,
    local: Option<IpAddr>,
) -> anyhow::Result<Socket> {
    let mut ws = client::connect(node, token, crate::cli::Codec::Json, local).await?;
    if join {
        client::join(&mut ws, crate::cli::Codec::Json, room).await?;
    }
    Ok(ws)
}

async fn hold(mut ws: Socket, closed: Arc<AtomicU64>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => {
                let _ = ws.close(None).await;
                return;
            }
            next = ws.next() => match next {
                Some(Ok(message)) if !message.is_close() => continue,
                _ => {
                    closed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            },
        }
    }
}

/// Pairs each node with the pid given for it, in order; without pids, memory is not reported.
fn memory_per_node(
    nodes: &[Node],
    pids: &[u32],
    connections: &[u64],
    before: &[u64],
    after: &[u64],
) -> Vec<NodeMemory> {
    pids.iter()
        .enumerate()
        .map(|(i, &pid)| NodeMemory {
            node: nodes[i].base.clone(),
            pid,
            connections: connections[i],
            rss_before_bytes: before[i],
            rss_after_bytes: after[i],
            bytes_per_connection: per_connection(before[i], after[i], connections[i]),
        })
        .collect()
}

fn per_connection(before: u64, after: u64, connections: u64) -> f64 {
    if connections == 0 { 0.0 } else { after.saturating_sub(before) as f64 / connections as f64 }
}

/// The resident set of a process, from `/proc/<pid>/status`.
fn resident_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| anyhow::anyhow!("reading the memory of pid {pid}: {e}"))?;
    vm_rss_bytes(&status).ok_or_else(|| anyhow::anyhow!("no VmRSS for pid {pid}"))
}

fn vm_rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn table(r: &ConnectionsResults) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "connections: {} open, {} failed, in {:.2} s ({:.0}/s); {} closed while held",
        r.opened, r.failed, r.connect_secs, r.connects_per_sec, r.closed_while_held
    );
    for n in &r.nodes {
        let _ = writeln!(
            out,
            "  {} (pid {}): {} connections, RSS {:.1} -> {:.1} MiB, {:.1} KiB per connection",
            n.node,
            n.pid,
            n.connections,
            n.rss_before_bytes as f64 / 1048576.0,
            n.rss_after_bytes as f64 / 1048576.0,
            n.bytes_per_connection / 1024.0
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_memory_is_read_from_proc_status() {
        let status = "Name:\tchat-node\nVmPeak:\t  999 kB\nVmRSS:\t   12345 kB\nThreads:\t4\n";
        assert_eq!(vm_rss_bytes(status), Some(12345 * 1024));
        assert_eq!(vm_rss_bytes("Name:\tx\n"), None);
        assert!(resident_bytes(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn memory_per_connection_is_the_growth_over_the_connections() {
        assert_eq!(per_connection(10 << 20, 20 << 20, 1024), 10240.0);
        assert_eq!(per_connection(20, 10, 5), 0.0, "a shrinking node costs nothing");
        assert_eq!(per_connection(0, 100, 0), 0.0);
    }
}
