//! The command line: one subcommand per scenario, each with its own flags and defaults.

use std::net::IpAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::mix::Mix;
use crate::pace::Pace;
use crate::watch::Watched;

#[derive(Debug, Parser)]
#[command(name = "chat-bench", version, about = "Load generator for the chat cluster")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Scenarios, each with its own flags.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Rooms of members on WebSockets, senders at a paced or unbounded rate: acknowledged
    /// sends/s, deliveries/s, ack and delivery latency, and a completeness check.
    Throughput(ThroughputArgs),
    /// A throughput run, then how long PostgreSQL takes to hold every acknowledged message.
    Persist(PersistArgs),
    /// Many authenticated WebSockets held idle: the connect rate and each node's resident
    /// memory per connection.
    Connections(ConnectionsArgs),
    /// What the machine allows without our code: JetStream publishes, core NATS fan-out and
    /// PostgreSQL batch inserts and copies, each flat out.
    Ceilings(CeilingsArgs),
    /// A long paced throughput run while sampling the resident memory, open files, threads and
    /// CPU of the processes under test: their drift after the warm-up, and the completeness check.
    Soak(SoakArgs),
    /// What checking an access token's login against the ended logins adds to a REST request
    /// and a WebSocket authentication: the node's own check, in this process, against Redis.
    TokenCheck(TokenCheckArgs),
    /// Reads of a room with millions of stored messages (newest page, a page in the middle,
    /// a resume) and the room list of a user in many rooms, one request at a time.
    History(crate::history::HistoryArgs),
    /// Closed-loop REST clients over the nodes, each doing a weighted mix of history pages,
    /// room lists, `GET /users/me` and sends: requests/s and latency per route.
    RestMix(crate::rest_mix::RestMixArgs),
}

/// The WebSocket subprotocol the bench's connections speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Codec {
    /// `chat.v1.json`: JSON in text frames.
    Json,
    /// `chat.v1.msgpack`: MessagePack maps in binary frames.
    Msgpack,
}

impl Codec {
    pub fn subprotocol(self) -> &'static str {
        match self {
            Codec::Json => "chat.v1.json",
            Codec::Msgpack => "chat.v1.msgpack",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::Json => "json",
            Codec::Msgpack => "msgpack",
        }
    }
}

/// The system under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum System {
    /// The chat cluster: REST setup, `GET /ws`, room seq order checked.
    Chat,
    /// The chat cluster through its Socket.IO endpoint (`/socket.io/`): the same setup, sends
    /// and checks as `chat`, with Socket.IO's events and acknowledgements on the wire.
    ChatSocketio,
    /// The Socket.IO + Redis adapter peer in `bench/peers/socketio`: rooms by name, no
    /// accounts, per-sender order checked (it has no room sequence).
    Socketio,
}

impl System {
    pub fn name(self) -> &'static str {
        match self {
            System::Chat => "chat",
            System::ChatSocketio => "chat-socketio",
            System::Socketio => "socketio",
        }
    }

    /// Whether the nodes are the chat cluster: accounts, rooms by id, room seqs, storage.
    pub fn is_chat(self) -> bool {
        matches!(self, System::Chat | System::ChatSocketio)
    }
}

/// The warm-up of a throughput run when `--warmup` is not given.
const DEFAULT_WARMUP_SECS: f64 = 2.0;

#[derive(Debug, Clone, Args)]
pub struct ThroughputArgs {
    /// What the nodes run.
    #[arg(long, value_enum, default_value_t = System::Chat)]
    pub system: System,
    /// Base URLs of the nodes (loopback only), comma separated; users are spread over them
    /// round-robin.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:8080")]
    pub nodes: Vec<String>,
    /// Group rooms to create.
    #[arg(long, default_value_t = 100)]
    pub rooms: u32,
    /// Members per room, each on its own WebSocket.
    #[arg(long, default_value_t = 10)]
    pub members: u32,
    /// Members of each room that send [default: all of them].
    #[arg(long)]
    pub senders_per_room: Option<u32>,
    /// Sends per second over all senders, spread evenly; 0 sends flat out. Under `--mix`,
    /// operations of every kind per second.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Where each paced sender's sends fall: `staggered` spreads the senders' phases evenly so
    /// that all sends together are evenly spaced; `per-socket` gives each sender a random phase
    /// of the same interval, as independent clients would have.
    #[arg(long, value_enum, default_value_t = Pace::Staggered)]
    pub pace: Pace,
    /// Operations of each sending connection besides sends, in proportions, e.g.
    /// `sends=80,reactions=10,edits=5,deletes=5`: reactions (react and unreact alternately) on
    /// the room's latest message, edits of the connection's newest own message, deletes of its
    /// oldest. Chat only [default: sends only].
    #[arg(long)]
    pub mix: Option<Mix>,
    /// Seconds of measured sending, after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of sending before measuring starts; its messages are still checked for
    /// completeness [default: 2; soak: 5 minutes or a tenth of --duration, whichever is shorter].
    #[arg(long)]
    pub warmup: Option<f64>,
    /// Most unacknowledged sends per sending connection.
    #[arg(long, default_value_t = 8)]
    pub in_flight: u32,
    #[arg(long, value_enum, default_value_t = Codec::Json)]
    pub codec: Codec,
    /// Bytes of each message's content (the timing tag included, so at least about 30).
    #[arg(long, default_value_t = 100)]
    pub content_bytes: usize,
    /// Leave `client_msg_id` out of sends (the server then skips its idempotency lookup).
    #[arg(long)]
    pub no_client_msg_id: bool,
    /// Mark each send `first_attempt` (every send of the bench is one): the server then relies
    /// on the stream's duplicate window alone and skips its database lookup of the client id.
    #[arg(long, conflicts_with = "no_client_msg_id")]
    pub first_attempt: bool,
    /// After sending ends, the drain waits until no frame arrived for this many seconds...
    #[arg(long, default_value_t = 1.0)]
    pub drain_idle: f64,
    /// ...or at most this many seconds.
    #[arg(long, default_value_t = 10.0)]
    pub drain_max: f64,
    /// Local source addresses for the WebSockets (127.0.0.x), used round-robin; needed past
    /// about 28k connections to one node.
    #[arg(long, value_delimiter = ',')]
    pub bind: Vec<IpAddr>,
    /// REST requests (register, create room) and WebSocket handshakes in flight during setup.
    #[arg(long, default_value_t = 16)]
    pub setup_concurrency: usize,
    /// Process ids of the servers and brokers under test: their CPU during the run is
    /// reported, and what the rest of the machine used is reported apart as other jobs'.
    #[arg(long, value_delimiter = ',')]
    pub server_pids: Vec<u32>,
    /// Commands (as in `/proc/<pid>/comm`, e.g. `postgres`) of more servers and brokers under
    /// test, looked up at the start and at the end of the run, so that processes started
    /// during it (database backends opened by the first sends) count too.
    #[arg(long, value_delimiter = ',')]
    pub server_commands: Vec<String>,
    /// Logins per second (`POST /auth/login` as the run's users, open-loop) during the measured
    /// window, while the WebSocket traffic flows; 0 for none.
    #[arg(long, default_value_t = 0.0)]
    pub login_rate: f64,
    /// Free text copied into the RESULT line, to tell runs apart in scripts.
    #[arg(long)]
    pub label: Option<String>,
    /// The NATS server of the chat cluster, asked only for its version (for the RESULT line).
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// The Redis of either system, asked only for its version.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// The PostgreSQL server of the chat cluster, asked only for its version.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres_url: String,
}

impl ThroughputArgs {
    pub fn senders_per_room(&self) -> u32 {
        self.senders_per_room.unwrap_or(self.members).min(self.members)
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration)
    }

    pub fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.warmup_secs())
    }

    pub fn warmup_secs(&self) -> f64 {
        self.warmup.unwrap_or(DEFAULT_WARMUP_SECS)
    }

    /// Refuses settings the server would reject or that make no scenario.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.rooms >= 1, "--rooms must be at least 1");
        anyhow::ensure!((1..=1001).contains(&self.members), "--members must be 1 to 1001");
        anyhow::ensure!(self.senders_per_room() >= 1, "--senders-per-room must be at least 1");
        anyhow::ensure!(self.rate >= 0.0 && self.rate.is_finite(), "--rate must be 0 or more");
        anyhow::ensure!(self.duration > 0.0 && self.duration.is_finite(), "--duration must be above 0");
        anyhow::ensure!(self.warmup.is_none_or(|w| w >= 0.0 && w.is_finite()), "--warmup must be 0 or more");
        anyhow::ensure!(self.in_flight >= 1, "--in-flight must be at least 1");
        anyhow::ensure!((1..=4000).contains(&self.content_bytes), "--content-bytes must be 1 to 4000");
        anyhow::ensure!(self.drain_idle > 0.0 && self.drain_max >= self.drain_idle, "bad drain settings");
        anyhow::ensure!(self.setup_concurrency >= 1, "--setup-concurrency must be at least 1");
        anyhow::ensure!(
            self.login_rate >= 0.0 && self.login_rate <= 10_000.0,
            "--login-rate must be 0 to 10000"
        );
        if self.system == System::Socketio {
            anyhow::ensure!(self.login_rate == 0.0, "the Socket.IO peer has no accounts to log in to");
            anyhow::ensure!(self.codec == Codec::Json, "the Socket.IO peer speaks JSON only");
            anyhow::ensure!(!self.no_client_msg_id, "the Socket.IO peer has no client_msg_id to leave out");
            anyhow::ensure!(!self.first_attempt, "the Socket.IO peer has no client_msg_id to mark");
            anyhow::ensure!(self.mix.is_none(), "the Socket.IO peer has no edits, deletes or reactions");
        }
        if self.system == System::ChatSocketio {
            anyhow::ensure!(self.codec == Codec::Json, "Socket.IO speaks JSON only");
            anyhow::ensure!(self.mix.is_none(), "--mix runs over /ws only");
        }
        for ip in &self.bind {
            anyhow::ensure!(ip.is_loopback(), "--bind {ip} is not a loopback address");
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Args)]
pub struct PersistArgs {
    /// PostgreSQL of the cluster under test (loopback only), to count persisted messages.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Seconds after the send phase ends to wait for every acknowledged message to be stored.
    #[arg(long, default_value_t = 120.0)]
    pub persist_timeout: f64,
    /// How often to look at the stored messages, in milliseconds: while the run sends, its rows
    /// are counted; after, only the seqs stored above what is known stored are read, so polling
    /// fast costs the database little while a backlog is written.
    #[arg(long, default_value_t = 100)]
    pub poll_ms: u64,
    /// An outage: these persister processes are stopped (SIGSTOP) while the run sends and
    /// continued (SIGCONT) once it has ended, and the catch-up over the backlog is measured.
    #[arg(long, value_delimiter = ',')]
    pub pause_persister: Vec<u32>,
    #[command(flatten)]
    pub throughput: ThroughputArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SoakArgs {
    /// A process to sample, as NAME=PID (repeat the flag or separate by commas), e.g.
    /// `node-8080=$(cat /tmp/chat-bench-soak1/node-8080.pid)`.
    #[arg(long, value_delimiter = ',')]
    pub watch: Vec<Watched>,
    /// A PostgreSQL database whose backends (the server processes of its connections) are
    /// sampled together as one row, looked up again at every sample.
    #[arg(long)]
    pub watch_database: Option<String>,
    /// Seconds between samples.
    #[arg(long, default_value_t = 60.0)]
    pub sample_every: f64,
    /// Most drift of any watched row's resident memory, from the end of the warm-up to the end
    /// of the run, in percent; more fails the run.
    #[arg(long, default_value_t = 5.0)]
    pub max_drift: f64,
    #[command(flatten)]
    pub throughput: ThroughputArgs,
}

/// A soak's warm-up when `--warmup` is not given: 5 minutes, or a tenth of `--duration` if shorter.
const SOAK_WARMUP_SECS: f64 = 300.0;

impl SoakArgs {
    /// Refuses settings that make no soak; fills in the soak's own warm-up.
    pub fn validate(&mut self) -> anyhow::Result<()> {
        self.throughput.validate()?;
        anyhow::ensure!(self.throughput.rate > 0.0, "a soak is paced: give --rate");
        anyhow::ensure!(
            self.throughput.system.is_chat(),
            "a soak runs against the chat cluster (--system chat or chat-socketio)"
        );
        anyhow::ensure!(
            self.sample_every > 0.0 && self.sample_every.is_finite(),
            "--sample-every must be above 0"
        );
        anyhow::ensure!(self.max_drift >= 0.0 && self.max_drift.is_finite(), "--max-drift must be 0 or more");
        anyhow::ensure!(
            !self.watch.is_empty() || self.watch_database.is_some(),
            "nothing to sample: give --watch NAME=PID or --watch-database"
        );
        if self.throughput.warmup.is_none() {
            self.throughput.warmup = Some(SOAK_WARMUP_SECS.min(self.throughput.duration / 10.0));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Args)]
pub struct ConnectionsArgs {
    /// Base URLs of the chat-node instances (loopback only), comma separated; connections are
    /// spread over them round-robin.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:8080")]
    pub nodes: Vec<String>,
    /// Process ids of the nodes, in the order of `--nodes`, to read their resident memory.
    #[arg(long, value_delimiter = ',')]
    pub pids: Vec<u32>,
    /// WebSockets to open in all.
    #[arg(long, default_value_t = 1000)]
    pub connections: u32,
    /// Users to register; connections take their tokens round-robin (a user may hold many).
    #[arg(long, default_value_t = 100)]
    pub users: u32,
    /// Users per room; each connection may join its user's room.
    #[arg(long, default_value_t = 10)]
    pub members: u32,
    /// Join the user's room on every connection, as a client that opens a chat does.
    #[arg(long)]
    pub join: bool,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds to hold the connections idle before reading memory.
    #[arg(long, default_value_t = 5.0)]
    pub hold: f64,
    /// Local source addresses (127.0.0.x), used round-robin; needed past about 28k connections
    /// to one node.
    #[arg(long, value_delimiter = ',')]
    pub bind: Vec<IpAddr>,
    /// REST requests in flight while registering users and creating rooms.
    #[arg(long, default_value_t = 16)]
    pub setup_concurrency: usize,
    /// Free text copied into the RESULT line.
    #[arg(long)]
    pub label: Option<String>,
}

impl ConnectionsArgs {
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.connections >= 1, "--connections must be at least 1");
        anyhow::ensure!(self.users >= 1 && self.members >= 1, "--users and --members must be at least 1");
        anyhow::ensure!(self.members <= 1001, "--members must be at most 1001");
        anyhow::ensure!(
            self.concurrency >= 1 && self.setup_concurrency >= 1,
            "concurrency must be at least 1"
        );
        anyhow::ensure!(self.hold >= 0.0 && self.hold.is_finite(), "--hold must be 0 or more");
        anyhow::ensure!(
            self.pids.is_empty() || self.pids.len() == self.nodes.len(),
            "--pids must name one process per node"
        );
        for ip in &self.bind {
            anyhow::ensure!(ip.is_loopback(), "--bind {ip} is not a loopback address");
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Args)]
pub struct CeilingsArgs {
    /// NATS with JetStream (loopback); a stream and subjects of the run's own are used and removed.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222", hide_env_values = true)]
    pub nats_url: String,
    /// PostgreSQL (loopback) for the insert and copy ceilings; tables of the run's own are
    /// created and dropped. Without it those ceilings are skipped.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Messages per ceiling.
    #[arg(long, default_value_t = 200_000)]
    pub messages: u64,
    /// JetStream publishes awaiting their acknowledgement at once.
    #[arg(long, default_value_t = 1024)]
    pub in_flight: usize,
    /// Replicas of the ceiling's stream (3 needs a NATS cluster of at least 3 servers).
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    /// Subscribers of the fan-out ceiling, each on its own connection (a room's members).
    #[arg(long, default_value_t = 10)]
    pub subscribers: u32,
    /// Bytes per message (about what one of ours weighs on the wire).
    #[arg(long, default_value_t = 250)]
    pub message_bytes: usize,
    /// Rows per insert statement or copy.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Free text copied into the RESULT line.
    #[arg(long)]
    pub label: Option<String>,
}

impl CeilingsArgs {
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.messages >= 1, "--messages must be at least 1");
        anyhow::ensure!(self.in_flight >= 1 && self.batch >= 1, "--in-flight and --batch must be at least 1");
        anyhow::ensure!((1..=64).contains(&self.subscribers), "--subscribers must be 1 to 64");
        anyhow::ensure!((1..=65536).contains(&self.message_bytes), "--message-bytes must be 1 to 65536");
        let nats = self.nats_url.trim_start_matches("nats://");
        anyhow::ensure!(
            nats.starts_with("127.") || nats.starts_with("localhost"),
            "--nats-url must be on this machine's loopback"
        );
        Ok(())
    }
}

#[derive(Debug, Clone, Args)]
pub struct TokenCheckArgs {
    /// Redis (loopback) holding the ended logins; keys of the run's own are written and expire.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Checks timed per case (the Redis lookup case: a tenth of them).
    #[arg(long, default_value_t = 100_000)]
    pub iterations: u64,
}

impl TokenCheckArgs {
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.iterations >= 10, "--iterations must be at least 10");
        let host = self.redis_url.split_once("://").map_or("", |(_, rest)| rest);
        let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
        anyhow::ensure!(
            host.starts_with("127.") || host.starts_with("localhost"),
            "--redis-url must be on this machine's loopback"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_match_the_documented_scenario() {
        let cli = Cli::parse_from(["chat-bench", "throughput"]);
        let Command::Throughput(args) = cli.command else { panic!("not throughput") };
        assert_eq!((args.rooms, args.members, args.senders_per_room()), (100, 10, 10));
        assert_eq!((args.in_flight, args.content_bytes, args.codec), (8, 100, Codec::Json));
        assert_eq!(args.system, System::Chat);
        args.validate().unwrap();
    }

    #[test]
    fn the_socketio_peer_takes_json_only() {
        let parse = |extra: &[&str]| {
            let cli =
                Cli::parse_from(["chat-bench", "throughput", "--system", "socketio"].iter().chain(extra));
            let Command::Throughput(args) = cli.command else { panic!("not throughput") };
            args
        };
        parse(&[]).validate().unwrap();
        assert!(parse(&["--codec", "msgpack"]).validate().is_err());
        assert!(parse(&["--no-client-msg-id"]).validate().is_err());
        assert!(parse(&["--login-rate", "50"]).validate().is_err());
        assert!(parse(&["--mix", "sends=9,edits=1"]).validate().is_err());
    }

    #[test]
    fn a_mix_is_read_from_the_command_line_and_sends_only_by_default() {
        let cli =
            Cli::parse_from(["chat-bench", "throughput", "--mix", "sends=80,reactions=10,edits=5,deletes=5"]);
        let Command::Throughput(args) = cli.command else { panic!("not throughput") };
        assert_eq!(
            args.mix.map(|m| m.to_string()).as_deref(),
            Some("sends=80,reactions=10,edits=5,deletes=5")
        );
        let cli = Cli::parse_from(["chat-bench", "throughput"]);
        let Command::Throughput(args) = cli.command else { panic!("not throughput") };
        assert!(args.mix.is_none());
        assert!(Cli::try_parse_from(["chat-bench", "throughput", "--mix", "edits=5"]).is_err());
    }

    #[test]
    fn a_paced_run_is_staggered_unless_asked_per_socket() {
        let pace = |extra: &[&str]| {
            let cli = Cli::parse_from(["chat-bench", "throughput", "--rate", "100"].iter().chain(extra));
            let Command::Throughput(args) = cli.command else { panic!("not throughput") };
            args.pace
        };
        assert_eq!(pace(&[]), Pace::Staggered);
        assert_eq!(pace(&["--pace", "per-socket"]), Pace::PerSocket);
    }

    #[test]
    fn a_soak_warms_up_five_minutes_or_a_tenth_of_its_duration() {
        let soak = |extra: &[&str]| {
            let argv = ["chat-bench", "soak", "--watch", "node=1,persister=2"];
            let Command::Soak(mut args) = Cli::parse_from(argv.iter().chain(extra)).command else {
                panic!("not soak")
            };
            args.validate().map(|()| args)
        };
        let hour = soak(&["--rate", "2000", "--duration", "3600"]).unwrap();
        assert_eq!(hour.throughput.warmup_secs(), 300.0);
        assert_eq!(hour.watch.len(), 2);
        assert_eq!((hour.sample_every, hour.max_drift), (60.0, 5.0));
        let short = soak(&["--rate", "200", "--duration", "120"]).unwrap();
        assert_eq!(short.throughput.warmup_secs(), 12.0);
        let given = soak(&["--rate", "200", "--duration", "120", "--warmup", "30"]).unwrap();
        assert_eq!(given.throughput.warmup_secs(), 30.0);
        assert!(soak(&[]).is_err(), "a soak is paced");
        let cli = Cli::parse_from(["chat-bench", "throughput"]);
        let Command::Throughput(args) = cli.command else { panic!("not throughput") };
        assert_eq!(args.warmup_secs(), 2.0, "throughput keeps its own warm-up");
    }

    #[test]
    fn nodes_are_comma_separated() {
        let cli = Cli::parse_from([
            "chat-bench",
            "throughput",
            "--nodes",
            "http://127.0.0.1:8080,http://127.0.0.1:8082",
            "--senders-per-room",
            "20",
        ]);
        let Command::Throughput(args) = cli.command else { panic!("not throughput") };
        assert_eq!(args.nodes.len(), 2);
        assert_eq!(args.senders_per_room(), 10, "capped at the members");
    }
}
