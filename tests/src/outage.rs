//! Private PostgreSQL, Redis and NATS servers that a test may stop and start again, to see what
//! clients meet during an outage. The shared services are never stopped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::{Connection, PgConnection};

/// A port no other process is listening on, below the ephemeral range (which starts at 32768 on
/// Linux), so that no outgoing connection of another test takes it while the server is down.
fn fixed_free_port() -> anyhow::Result<u16> {
    for _ in 0..200 {
        let port = 20_000 + rand_below(10_000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port in 20000-29999")
}

fn rand_below(n: u16) -> u16 {
    (uuid::Uuid::new_v4().as_u128() % u128::from(n)) as u16
}

async fn wait_for_port(port: u16, what: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{what} did not listen on port {port}")
}

/// The newest PostgreSQL server binaries installed (Debian keeps them per version).
fn postgres_bin() -> anyhow::Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL server binaries under /usr/lib/postgresql")?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).context("no PostgreSQL version installed")
}

/// Runs a PostgreSQL tool as the `postgres` user (PostgreSQL refuses to run as root).
fn as_postgres(tool: &Path) -> std::process::Command {
    let root = rustix::process::geteuid().is_root();
    let mut command = if root {
        let mut command = std::process::Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(tool);
        command
    } else {
        std::process::Command::new(tool)
    };
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    command
}

fn run(mut command: std::process::Command, what: &str) -> anyhow::Result<()> {
    let output = command.output().with_context(|| format!("running {what}"))?;
    if !output.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

/// A server's certificate and key, and the authority that signed the certificate, as PEM files.
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// Makes `path` the `postgres` user's when running as root, so that the server may read it.
fn give_to_postgres(path: &Path) -> anyhow::Result<()> {
    if !rustix::process::geteuid().is_root() {
        return Ok(());
    }
    let mut chown = std::process::Command::new("chown");
    chown.args(["postgres:postgres"]).arg(path);
    run(chown, "chown")
}

/// A PostgreSQL cluster of one test, made with `initdb` in a temporary folder.
pub struct PrivatePostgres {
    bin: PathBuf,
    dir: PathBuf,
    /// Whether the server offers TLS, with the certificate and key copied into `dir`.
    tls: bool,
    pub port: u16,
}

impl PrivatePostgres {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(None).await
    }

    /// A cluster that offers TLS with `tls`'s certificate (`ssl = on`); without, one that does not.
    pub async fn start_with(tls: Option<&ServerTls>) -> anyhow::Result<Self> {
        let bin = postgres_bin()?;
        let dir = std::env::temp_dir().join(format!("chat-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        give_to_postgres(&dir)?;
        if let Some(tls) = tls {
            // PostgreSQL refuses a key that others may read.
            for (from, to) in [(&tls.cert, "server.crt"), (&tls.key, "server.key")] {
                let to = dir.join(to);
                std::fs::copy(from, &to)?;
                std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
                give_to_postgres(&to)?;
            }
        }
        let mut initdb = as_postgres(&bin.join("initdb"));
        initdb.args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"]).arg(dir.join("data"));
        run(initdb, "initdb")?;
        let postgres = Self { bin, dir, tls: tls.is_some(), port: fixed_free_port()? };
        postgres.resume().await?;
        Ok(postgres)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub async fn create_database(&self, name: &str) -> anyhow::Result<String> {
        let mut conn = PgConnection::connect(&self.url("postgres")).await?;
        sqlx::query(&format!("create database {name}")).execute(&mut conn).await?;
        conn.close().await?;
        Ok(self.url(name))
    }

    /// Starts the server again on the same port.
    pub async fn resume(&self) -> anyhow::Result<()> {
        let ssl = if self.tls {
            let (cert, key) = (self.dir.join("server.crt"), self.dir.join("server.key"));
            format!("-c ssl=on -c ssl_cert_file={} -c ssl_key_file={}", cert.display(), key.display())
        } else {
            "-c ssl=off".to_owned()
        };
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off {ssl}",
            self.port,
            self.dir.display()
        );
        let mut start = as_postgres(&self.bin.join("pg_ctl"));
        start
            .args(["-w", "-o", &options, "-l"])
            .arg(self.dir.join("log"))
            .arg("-D")
            .arg(self.dir.join("data"));
        start.arg("start");
        run(start, "pg_ctl start")?;
        wait_for_port(self.port, "PostgreSQL").await
    }

    /// Stops the server at once, ending every session, as a crash or a failover would.
    pub fn stop(&self) -> anyhow::Result<()> {
        let mut stop = as_postgres(&self.bin.join("pg_ctl"));
        stop.args(["-w", "-m", "immediate", "-D"]).arg(self.dir.join("data")).arg("stop");
        run(stop, "pg_ctl stop")
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts a server process (quiet, killed with its handle) and waits until it listens on `port`.
async fn serve(
    mut command: tokio::process::Command,
    port: u16,
    name: &str,
) -> anyhow::Result<tokio::process::Child> {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("the {name} server on the PATH"))?;
    wait_for_port(port, name).await?;
    Ok(child)
}

/// Kills a server process started by [`serve`], if it runs.
async fn kill(child: &mut Option<tokio::process::Child>) -> anyhow::Result<()> {
    if let Some(mut child) = child.take() {
        child.kill().await?;
    }
    Ok(())
}

/// A `redis-server` of one test.
pub struct PrivateRedis {
    child: Option<tokio::process::Child>,
    /// With it, the server listens for TLS only, and does not ask clients for certificates.
    tls: Option<ServerTls>,
    pub port: u16,
}

impl PrivateRedis {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(None).await
    }

    pub async fn start_with(tls: Option<&ServerTls>) -> anyhow::Result<Self> {
        let mut redis = Self { child: None, tls: tls.cloned(), port: fixed_free_port()? };
        redis.resume().await?;
        Ok(redis)
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Starts the server again on the same port, empty.
    pub async fn resume(&mut self) -> anyhow::Result<()> {
        let mut command = tokio::process::Command::new("redis-server");
        let port = self.port.to_string();
        match &self.tls {
            None => command.args(["--port", &port]),
            Some(tls) => command
                .args(["--port", "0", "--tls-port", &port, "--tls-auth-clients", "no", "--tls-cert-file"])
                .arg(&tls.cert)
                .arg("--tls-key-file")
                .arg(&tls.key)
                .arg("--tls-ca-cert-file")
                .arg(&tls.ca),
        };
        command.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
        self.child = Some(serve(command, self.port, "Redis").await?);
        Ok(())
    }

    /// Kills the server.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        kill(&mut self.child).await
    }
}

/// Whom a [`PrivateNats`] accepts.
#[derive(Debug, Clone)]
pub enum NatsAuth {
    User {
        user: String,
        password: String,
    },
    Token(String),
    /// The public key (`U...`) of the one NKey user.
    NKey(String),
    /// Lines of the server's configuration file that say whom it accepts (an operator and its
    /// accounts, for users with `.creds` files).
    Config(String),
}

/// A `nats-server` with JetStream of one test, its store in a temporary folder.
pub struct PrivateNats {
    child: Option<tokio::process::Child>,
    store: PathBuf,
    /// With it, the server requires TLS.
    tls: Option<ServerTls>,
    /// Whether the server also requires clients to show a certificate its CA signed.
    verify_clients: bool,
    /// Whom the server accepts; without, anyone.
    auth: Option<NatsAuth>,
    pub port: u16,
}

impl PrivateNats {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(None, None).await
    }

    pub async fn start_with(tls: Option<&ServerTls>, auth: Option<NatsAuth>) -> anyhow::Result<Self> {
        Self::launch(tls, auth, false).await
    }

    /// A server requiring TLS with `tls`'s certificate, and a client certificate signed by
    /// `tls`'s CA from every client.
    pub async fn start_verifying_clients(tls: &ServerTls) -> anyhow::Result<Self> {
        Self::launch(Some(tls), None, true).await
    }

    async fn launch(
        tls: Option<&ServerTls>,
        auth: Option<NatsAuth>,
        verify_clients: bool,
    ) -> anyhow::Result<Self> {
        let store = std::env::temp_dir().join(format!("chat-nats-{}", uuid::Uuid::new_v4().simple()));
        let tls = tls.cloned();
        let mut nats = Self { child: None, store, tls, verify_clients, auth, port: fixed_free_port()? };
        nats.resume().await?;
        Ok(nats)
    }

    /// The server's URL, without credentials.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "tls" } else { "nats" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Starts the server again on the same port and store: JetStream keeps what it stored.
    pub async fn resume(&mut self) -> anyhow::Result<()> {
        let mut command = tokio::process::Command::new("nats-server");
        command.args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"]).arg(&self.store);
        if let Some(tls) = &self.tls {
            command.args(["--tls", "--tlscert"]).arg(&tls.cert).arg("--tlskey").arg(&tls.key);
            if self.verify_clients {
                command.args(["--tlsverify", "--tlscacert"]).arg(&tls.ca);
            }
        }
        match &self.auth {
            None => {}
            Some(NatsAuth::User { user, password }) => {
                command.args(["--user", user, "--pass", password]);
            }
            Some(NatsAuth::Token(token)) => {
                command.args(["--auth", token]);
            }
            Some(NatsAuth::NKey(public_key)) => {
                // NKey users have no flag: only a configuration file names them.
                std::fs::create_dir_all(&self.store)?;
                let config = self.store.join("auth.conf");
                std::fs::write(
                    &config,
                    format!("authorization {{ users = [ {{ nkey: \"{public_key}\" }} ] }}\n"),
                )?;
                command.arg("-c").arg(config);
            }
            Some(NatsAuth::Config(lines)) => {
                std::fs::create_dir_all(&self.store)?;
                let config = self.store.join("auth.conf");
                std::fs::write(&config, lines)?;
                command.arg("-c").arg(config);
            }
        }
        self.child = Some(serve(command, self.port, "NATS").await?);
        Ok(())
    }

    /// Kills the server, as a crash would.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        kill(&mut self.child).await
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
            // Gone before its store is, so that it writes nothing there afterwards.
            for _ in 0..100 {
                if !matches!(child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = std::fs::remove_dir_all(&self.store);
    }
}
