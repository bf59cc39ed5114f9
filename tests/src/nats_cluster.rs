//! A NATS cluster of real `nats-server` processes with JetStream, on free ports and temporary
//! store folders, for tests that kill one of its servers.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, Command};

const BINARY: &str = "nats-server";

struct Server {
    name: String,
    client_port: u16,
    route_port: u16,
    store: PathBuf,
    child: Option<Child>,
}

pub struct NatsCluster {
    servers: Vec<Server>,
    root: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

impl NatsCluster {
    /// Starts `size` servers routed to each other and waits until JetStream answers through
    /// every one of them.
    pub async fn start(size: usize) -> anyhow::Result<Self> {
        let root = std::env::temp_dir().join(format!("chat-nats-{}", uuid::Uuid::new_v4().simple()));
        let servers = (0..size)
            .map(|i| Server {
                name: format!("n{i}"),
                client_port: free_port(),
                route_port: free_port(),
                store: root.join(format!("n{i}")),
                child: None,
            })
            .collect();
        let mut cluster = Self { servers, root };
        for i in 0..size {
            cluster.start_server(i)?;
        }
        for i in 0..size {
            cluster.wait_for_jetstream(i).await?;
        }
        Ok(cluster)
    }

    /// The client URLs of every server, comma separated, as the nodes take them.
    pub fn urls(&self) -> String {
        self.servers
            .iter()
            .map(|s| format!("nats://127.0.0.1:{}", s.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn start_server(&mut self, index: usize) -> anyhow::Result<()> {
        let routes: Vec<String> = self
            .servers
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .map(|(_, s)| format!("nats://127.0.0.1:{}", s.route_port))
            .collect();
        let server = &mut self.servers[index];
        std::fs::create_dir_all(&server.store)?;
        let logs = std::env::var_os("TEST_LOG").is_some();
        let child = Command::new(BINARY)
            .args(["-a", "127.0.0.1", "-p", &server.client_port.to_string(), "-n", &server.name, "-js"])
            .arg("-sd")
            .arg(&server.store)
            .args(["--cluster_name", "chat-test", "--cluster"])
            .arg(format!("nats://127.0.0.1:{}", server.route_port))
            .args(["--routes", &routes.join(",")])
            .stdout(if logs { Stdio::inherit() } else { Stdio::null() })
            .stderr(if logs { Stdio::inherit() } else { Stdio::null() })
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {BINARY}"))?;
        server.child = Some(child);
        Ok(())
    }

    /// JetStream is ready on a server once it answers account info (a meta leader exists).
    async fn wait_for_jetstream(&self, index: usize) -> anyhow::Result<()> {
        let url = format!("nats://127.0.0.1:{}", self.servers[index].client_port);
        let mut last_error = String::new();
        for _ in 0..200 {
            match async_nats::connect(&url).await {
                // Raw, as the typed account info does not parse this server version's answer.
                Ok(client) => match client.request("$JS.API.INFO", "".into()).await {
                    Ok(answer) if !String::from_utf8_lossy(&answer.payload).contains("\"error\"") => {
                        return Ok(());
                    }
                    Ok(answer) => last_error = String::from_utf8_lossy(&answer.payload).into_owned(),
                    Err(err) => last_error = err.to_string(),
                },
                Err(err) => last_error = err.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("JetStream did not come up on server {index}: {last_error}")
    }

    /// Which server leads the stream named `stream`.
    pub async fn stream_leader(&self, stream: &str) -> anyhow::Result<usize> {
        let url = format!("nats://127.0.0.1:{}", self.servers[0].client_port);
        let js = async_nats::jetstream::new(async_nats::connect(&url).await?);
        let info = js.get_stream(stream).await?.info().await?.clone();
        let leader = info.cluster.and_then(|c| c.leader).context("the stream has no leader")?;
        self.servers.iter().position(|s| s.name == leader).context("the leader is no server of this cluster")
    }

    /// Waits until the stream has a leader again: after losing one, a cluster of slow servers
    /// sharing two cores can take many seconds to elect the next.
    pub async fn wait_for_stream_leader(&self, stream: &str, within: Duration) -> anyhow::Result<usize> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match self.stream_leader(stream).await {
                Ok(leader) => return Ok(leader),
                Err(err) if tokio::time::Instant::now() >= deadline => {
                    return Err(err.context(format!("no leader for {stream} within {within:?}")));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// SIGKILL to one server: it keeps its store folder for a restart.
    pub async fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.servers[index].child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts a killed server again on its ports and store, and waits until it serves JetStream.
    pub async fn restart(&mut self, index: usize) -> anyhow::Result<()> {
        self.start_server(index)?;
        self.wait_for_jetstream(index).await
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for server in &mut self.servers {
            if let Some(child) = server.child.as_mut() {
                let _ = child.start_kill();
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
