//! Nodes and persisters as real processes, for tests that kill them.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use rustix::process::{Pid, Signal};
use tokio::process::{Child, Command};

use crate::{TestDatabase, TestStream, nats_url, node_args, with_overrides};

/// How long a process dropped while running has to exit after SIGTERM before it is killed.
const STOP_WAIT: Duration = Duration::from_secs(10);

pub struct Process {
    child: Child,
    pub addr: SocketAddr,
}

/// A free port on the loopback, for a process that binds it a moment later.
fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("a bound address")
}

impl Process {
    async fn spawn(binary: &str, args: Vec<String>, addr: SocketAddr) -> anyhow::Result<Self> {
        let mut command = Command::new(binary);
        command.args(args);
        Self::start(command, addr).await
    }

    async fn start(mut command: Command, addr: SocketAddr) -> anyhow::Result<Self> {
        let logs = std::env::var_os("TEST_LOG").is_some();
        let child = command
            .env("RUST_LOG", if logs { "info" } else { "warn" })
            .stdout(if logs { Stdio::inherit() } else { Stdio::null() })
            .stderr(if logs { Stdio::inherit() } else { Stdio::null() })
            .kill_on_drop(true)
            .spawn()?;
        let mut process = Self { child, addr };
        process.wait_until_healthy().await?;
        Ok(process)
    }

    /// A `chat-node` process (`binary` is the test package's `CARGO_BIN_EXE_…`).
    pub async fn node(
        binary: &str,
        db: &TestDatabase,
        stream: &TestStream,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        let addr = free_addr();
        let mut args = node_args(db, stream, extra);
        args.remove(0);
        let at = args.iter().position(|a| a == "--listen").expect("node args name --listen");
        args[at + 1] = addr.to_string();
        Self::spawn(binary, args, addr).await
    }

    /// An embedded `chat-node` process on `data_dir`, with none of the service URLs nor a JWT
    /// secret in its environment, as an operator trying it out would start it.
    pub async fn embedded_node(binary: &str, data_dir: &Path) -> anyhow::Result<Self> {
        let addr = free_addr();
        let mut command = Command::new(binary);
        command.arg("--listen").arg(addr.to_string()).arg("--data-dir").arg(data_dir);
        for unset in ["NATS_URL", "DATABASE_URL", "REDIS_URL", "JWT_SECRET"] {
            command.env_remove(unset);
        }
        Self::start(command, addr).await
    }

    /// A `chat-persister` process.
    pub async fn persister(binary: &str, db: &TestDatabase, stream: &TestStream) -> anyhow::Result<Self> {
        Self::persister_with(binary, db, stream, &[]).await
    }

    /// A `chat-persister` process with `extra` flags replacing or adding to the defaults.
    pub async fn persister_with(
        binary: &str,
        db: &TestDatabase,
        stream: &TestStream,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        let addr = free_addr();
        let args = [
            "--listen",
            &addr.to_string(),
            "--nats-url",
            &nats_url(),
            "--database-url",
            &db.url,
            "--stream-prefix",
            &stream.prefix,
            "--batch-size",
            "100",
            "--ack-wait",
            "2s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        Self::spawn(binary, with_overrides(args, extra), addr).await
    }

    /// A process of `binary` (a node or a persister) on a free `--listen` address, with `args`
    /// and the variables `envs` added to this environment, writing all its output to `log`.
    pub async fn logging_to(
        binary: &str,
        args: &[String],
        envs: &[(&str, &str)],
        log: &Path,
    ) -> anyhow::Result<Self> {
        let addr = free_addr();
        let output = std::fs::File::create(log)?;
        let child = Command::new(binary)
            .arg("--listen")
            .arg(addr.to_string())
            .args(args)
            .envs(envs.iter().copied())
            .stdout(output.try_clone()?)
            .stderr(output)
            .kill_on_drop(true)
            .spawn()?;
        let mut process = Self { child, addr };
        process.wait_until_healthy().await?;
        Ok(process)
    }

    async fn wait_until_healthy(&mut self) -> anyhow::Result<()> {
        let url = format!("http://{}/healthz", self.addr);
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("the process exited during start-up: {status}");
            }
            if reqwest::get(&url).await.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("the process did not become healthy")
    }

    /// SIGKILL: no goodbye, nothing flushed.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// SIGKILL without waiting for the process to be reaped.
    pub fn kill_now(mut self) {
        let _ = self.child.start_kill();
    }

    /// SIGTERM, then waits for the exit and returns its code.
    pub async fn terminate(mut self, wait: Duration) -> anyhow::Result<Option<i32>> {
        self.sigterm()?;
        let exit = tokio::time::timeout(wait, self.child.wait()).await??;
        Ok(exit.code())
    }

    fn sigterm(&self) -> anyhow::Result<()> {
        let pid = self.child.id().and_then(|id| Pid::from_raw(id.try_into().ok()?));
        let pid = pid.ok_or_else(|| anyhow::anyhow!("the process is gone"))?;
        rustix::process::kill_process(pid, Signal::TERM)?;
        Ok(())
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Process {
    /// SIGTERM and a wait rather than the SIGKILL of `kill_on_drop`: a process that exits by
    /// itself writes its coverage profile, a killed one none. Blocks the thread of a test that
    /// is ending; a process still running after `STOP_WAIT` is killed.
    fn drop(&mut self) {
        if !self.running() || self.sigterm().is_err() {
            return;
        }
        let deadline = std::time::Instant::now() + STOP_WAIT;
        while self.running() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Runs `binary` with `args` to its end, for a start that must fail: its exit code and what it
/// wrote to stderr. Only `args` configure it: the service URLs and JWT secret of the test's
/// environment are removed.
pub async fn run_to_exit(binary: &str, args: &[&str]) -> anyhow::Result<(Option<i32>, String)> {
    let mut command = Command::new(binary);
    command.args(args).env("RUST_LOG", "warn").stdin(Stdio::null());
    for unset in ["NATS_URL", "DATABASE_URL", "REDIS_URL", "JWT_SECRET"] {
        command.env_remove(unset);
    }
    let output = tokio::time::timeout(Duration::from_secs(30), command.output()).await??;
    Ok((output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned()))
}
