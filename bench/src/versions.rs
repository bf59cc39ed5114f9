//! The versions of what a run measured, for its RESULT line: what the nodes under test say of
//! themselves, and what the services behind them answer when asked.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::cli::{System, ThroughputArgs};
use crate::target::{Node, loopback_addr};

/// How long one component may take to answer; one that does not is reported as unknown.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);
const UNKNOWN: &str = "unknown";

/// Versions by component, as the RESULT line gives them.
pub type Versions = BTreeMap<String, String>;

/// What a throughput or persist run measured: `chat-bench` always; for the chat cluster
/// `chat-node` (see [`add_nodes`]), `nats-server`, `postgresql` and `redis-server`; for the
/// Socket.IO peer what its `/version` names (`node`, and its npm packages by name: `socket.io`,
/// `@socket.io/redis-adapter`, the client `redis`) and `redis-server`.
pub async fn detect(args: &ThroughputArgs, nodes: &[Node]) -> Versions {
    let mut versions = bench();
    versions.insert("redis-server".into(), ask(redis_version(&args.redis_url)).await);
    match args.system {
        System::Chat | System::ChatSocketio => {
            add_nodes(&mut versions, nodes).await;
            add_nats(&mut versions, &args.nats_url).await;
            add_postgres(&mut versions, &args.postgres_url).await;
        }
        System::Socketio => {
            if let Some(node) = nodes.first() {
                add_peer(&mut versions, node).await;
            }
        }
    }
    versions
}

/// The bench's own version, to start from.
pub fn bench() -> Versions {
    BTreeMap::from([("chat-bench".to_owned(), env!("CARGO_PKG_VERSION").to_owned())])
}

/// `chat-node`: the version and commit of the nodes, from their `chat_build_info` metric;
/// every distinct one, comma separated, when they differ.
pub async fn add_nodes(versions: &mut Versions, nodes: &[Node]) {
    let mut builds: Vec<String> = Vec::new();
    for node in nodes {
        let build = ask(node_build(node)).await;
        if !builds.contains(&build) {
            builds.push(build);
        }
    }
    versions.insert("chat-node".into(), builds.join(", "));
}

/// `nats-server`, as the server at `url` says in its greeting.
pub async fn add_nats(versions: &mut Versions, url: &str) {
    versions.insert("nats-server".into(), ask(nats_version(url)).await);
}

/// `postgresql`, as the server at `url` answers `show server_version`.
pub async fn add_postgres(versions: &mut Versions, url: &str) {
    versions.insert("postgresql".into(), ask(postgres_version(url)).await);
}

/// What the Socket.IO peer's `/version` names.
async fn add_peer(versions: &mut Versions, node: &Node) {
    let asked = answer(async {
        let body = http().get(node.url("/version")).send().await?.error_for_status()?.text().await?;
        peer_versions(&body).context("the peer's /version is not a map of versions")
    });
    match asked.await {
        Some(peer) => versions.extend(peer),
        None => {
            versions.insert("socket.io".into(), UNKNOWN.into());
        }
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(ASK_TIMEOUT).build().unwrap_or_default()
}

/// The version `asking` answers, or `unknown` when it fails or takes too long.
async fn ask(asking: impl Future<Output = anyhow::Result<String>>) -> String {
    answer(asking).await.unwrap_or_else(|| UNKNOWN.into())
}

/// What `asking` answers within [`ASK_TIMEOUT`]; `None`, and why on stderr, otherwise.
async fn answer<T>(asking: impl Future<Output = anyhow::Result<T>>) -> Option<T> {
    match tokio::time::timeout(ASK_TIMEOUT, asking).await {
        Ok(Ok(answer)) => Some(answer),
        Ok(Err(err)) => {
            eprintln!("could not read a version: {err:#}");
            None
        }
        Err(_) => {
            eprintln!("could not read a version: no answer within {ASK_TIMEOUT:?}");
            None
        }
    }
}

async fn node_build(node: &Node) -> anyhow::Result<String> {
    let text = http().get(node.url("/metrics")).send().await?.error_for_status()?.text().await?;
    build_info(&text).with_context(|| format!("no chat_build_info in {}/metrics", node.base))
}

/// `0.1.0 (abc1234)` from the `chat_build_info{version=...,commit=...} 1` line of a node's
/// metrics.
fn build_info(metrics: &str) -> Option<String> {
    let line = metrics.lines().find(|l| l.starts_with("chat_build_info{"))?;
    let labels = &line[line.find('{')? + 1..line.rfind('}')?];
    let label = |name: &str| {
        let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
        let len = labels[start..].find('"')?;
        Some(&labels[start..start + len])
    };
    Some(format!("{} ({})", label("version")?, label("commit")?))
}

/// The server sends `INFO {json}` first on every connection.
async fn nats_version(url: &str) -> anyhow::Result<String> {
    let stream = TcpStream::connect(loopback_addr(url, 4222)?).await?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).await?;
    nats_info_version(&line).context("no version in the NATS server's INFO")
}

fn nats_info_version(line: &str) -> Option<String> {
    let info: Value = serde_json::from_str(line.strip_prefix("INFO ")?.trim()).ok()?;
    Some(info.get("version")?.as_str()?.to_owned())
}

async fn redis_version(url: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(loopback_addr(url, 6379)?).await?;
    stream.write_all(b"INFO server\r\n").await?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    // The answer is one bulk string of a few KiB; the version is in its first lines.
    loop {
        let read = stream.read(&mut chunk).await?;
        anyhow::ensure!(read > 0, "Redis closed the connection");
        reply.extend_from_slice(&chunk[..read]);
        if let Some(version) = redis_info_version(&String::from_utf8_lossy(&reply)) {
            return Ok(version);
        }
        anyhow::ensure!(reply.len() < 64 * 1024, "no redis_version in Redis's INFO");
    }
}

fn redis_info_version(info: &str) -> Option<String> {
    let line = info.lines().find_map(|l| l.strip_prefix("redis_version:"))?;
    // A line cut off by the read is not complete until its line end arrives.
    info.contains(&format!("redis_version:{line}\r\n")).then(|| line.trim().to_owned())
}

async fn postgres_version(url: &str) -> anyhow::Result<String> {
    loopback_addr(url, 5432)?;
    let mut connection = sqlx::PgConnection::connect(url).await?;
    let (version,): (String,) = sqlx::query_as("show server_version").fetch_one(&mut connection).await?;
    let _ = connection.close().await;
    Ok(version)
}

fn peer_versions(body: &str) -> Option<BTreeMap<String, String>> {
    serde_json::from_str(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nodes_build_comes_from_its_build_info_metric() {
        let metrics = "# HELP chat_build_info Always 1\n# TYPE chat_build_info gauge\n\
                       chat_build_info{version=\"0.1.0\",commit=\"d9471f8\"} 1\nchat_ws_connections 3\n";
        assert_eq!(build_info(metrics).as_deref(), Some("0.1.0 (d9471f8)"));
        let reordered = "chat_build_info{commit=\"unknown\",version=\"0.2.0\"} 1\n";
        assert_eq!(build_info(reordered).as_deref(), Some("0.2.0 (unknown)"));
        assert_eq!(build_info("chat_ws_connections 3\n"), None);
    }

    #[test]
    fn the_nats_version_is_read_from_its_info_line() {
        let info = "INFO {\"server_id\":\"N\",\"version\":\"2.9.10\",\"jetstream\":true}\r\n";
        assert_eq!(nats_info_version(info).as_deref(), Some("2.9.10"));
        assert_eq!(nats_info_version("-ERR 'Authorization Violation'\r\n"), None);
    }

    #[test]
    fn the_redis_version_is_read_once_its_line_is_complete() {
        let info = "$1234\r\n# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n";
        assert_eq!(redis_info_version(info).as_deref(), Some("7.0.15"));
        assert_eq!(redis_info_version("$1234\r\n# Server\r\nredis_version:7.0"), None);
    }

    #[test]
    fn the_peers_versions_are_a_map_of_strings() {
        let body = r#"{"node":"v20.20.2","socket.io":"4.8.1"}"#;
        let versions = peer_versions(body).unwrap();
        assert_eq!(versions["socket.io"], "4.8.1");
        assert!(peer_versions(r#"{"node": 20}"#).is_none());
    }
}
