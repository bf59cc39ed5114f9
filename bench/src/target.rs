//! The servers under test, as given on the command line, refused unless they are on this
//! machine's loopback: the bench never sends load anywhere else.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context, bail};
use reqwest::Url;

/// One `chat-node`: its REST base and the socket address its WebSocket is reached at.
#[derive(Debug, Clone)]
pub struct Node {
    /// `http://127.0.0.1:8080`, without a trailing slash.
    pub base: String,
    pub addr: SocketAddr,
}

impl Node {
    pub fn parse(raw: &str) -> anyhow::Result<Node> {
        let url = Url::parse(raw).with_context(|| format!("node {raw:?} is not a URL"))?;
        if url.scheme() != "http" {
            bail!("node {raw:?}: only http:// is supported (no TLS)");
        }
        let ip = loopback_host(&url).with_context(|| format!("node {raw:?}"))?;
        let port = url.port_or_known_default().context("node URL without a port")?;
        let base = format!("http://{}", SocketAddr::new(ip, port));
        Ok(Node { base, addr: SocketAddr::new(ip, port) })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `ws://host:port/ws?token=...`
    pub fn ws_url(&self, token: &str) -> String {
        format!("ws://{}/ws?token={token}", self.addr)
    }
}

pub fn parse_nodes(raw: &[String]) -> anyhow::Result<Vec<Node>> {
    anyhow::ensure!(!raw.is_empty(), "--nodes names no node");
    raw.iter().map(|r| Node::parse(r.trim())).collect()
}

/// Checks that a PostgreSQL URL points at this machine.
pub fn check_database_url(raw: &str) -> anyhow::Result<()> {
    let url = Url::parse(raw).context("--database-url is not a URL")?;
    loopback_host(&url).context("--database-url")?;
    Ok(())
}

/// The address of a service URL (`nats://127.0.0.1:4222`, `redis://localhost`), with the
/// service's `default_port` when it names none; refused unless on the loopback.
pub fn loopback_addr(raw: &str, default_port: u16) -> anyhow::Result<SocketAddr> {
    let url = Url::parse(raw).with_context(|| format!("{raw:?} is not a URL"))?;
    let ip = loopback_host(&url).with_context(|| format!("{raw:?}"))?;
    Ok(SocketAddr::new(ip, url.port().unwrap_or(default_port)))
}

fn loopback_host(url: &Url) -> anyhow::Result<IpAddr> {
    let host = url.host_str().context("no host")?;
    let ip = if host == "localhost" {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => bail!("host {host:?}: give a 127.0.0.x address"),
        }
    };
    if !ip.is_loopback() {
        bail!("{ip} is not a loopback address; the bench only loads servers on this machine");
    }
    Ok(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_nodes_are_accepted() {
        let node = Node::parse("http://127.0.0.2:8082/").unwrap();
        assert_eq!(node.base, "http://127.0.0.2:8082");
        assert_eq!(node.ws_url("t"), "ws://127.0.0.2:8082/ws?token=t");
        assert_eq!(Node::parse("http://localhost:8080").unwrap().addr.port(), 8080);
    }

    #[test]
    fn other_hosts_are_refused() {
        for raw in ["http://10.0.0.1:8080", "http://example.com", "https://127.0.0.1:8080"] {
            assert!(Node::parse(raw).is_err(), "{raw}");
        }
        assert!(check_database_url("postgres://postgres@127.0.0.1:5432/x").is_ok());
        assert!(check_database_url("postgres://postgres@192.168.1.2/x").is_err());
        assert!(loopback_addr("redis://10.1.2.3:6379", 6379).is_err());
    }

    #[test]
    fn service_urls_take_their_default_port() {
        assert_eq!(loopback_addr("nats://127.0.0.1:4223", 4222).unwrap().port(), 4223);
        assert_eq!(loopback_addr("redis://localhost", 6379).unwrap().to_string(), "127.0.0.1:6379");
    }
}
