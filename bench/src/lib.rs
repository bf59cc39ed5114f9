//! `chat-bench`, the load generator of the chat cluster: it drives real `chat-node` processes
//! over REST and WebSocket and reports throughput, latency percentiles, whether every message
//! arrived exactly once and in order, and how fast the persister catches up. The same
//! throughput scenario also drives the Socket.IO + Redis adapter gateway in
//! `bench/peers/socketio`, the system the chat cluster replaces, for a side-by-side comparison.

pub mod ceilings;
pub mod cli;
pub mod client;
pub mod completeness;
pub mod connections;
pub mod drift;
pub mod engineio;
pub mod history;
pub mod history_fixture;
pub mod latency;
pub mod logins;
pub mod mix;
pub mod ops;
pub mod pace;
pub mod persist;
pub mod receive;
pub mod renew;
pub mod report;
pub mod rest_mix;
pub mod sampler;
pub mod send;
pub mod sender_order;
pub mod setup;
pub mod soak;
pub mod socketio_client;
pub mod stored_seqs;
pub mod tag;
pub mod target;
pub mod throughput;
pub mod token_check;
pub mod versions;
pub mod watch;

/// Runs one subcommand; the returned code is the process's exit code.
pub async fn run(cli: cli::Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        cli::Command::Throughput(args) => throughput::main(args).await,
        cli::Command::Persist(args) => persist::main(args).await,
        cli::Command::Connections(args) => connections::main(args).await,
        cli::Command::Ceilings(args) => ceilings::main(args).await,
        cli::Command::Soak(args) => soak::main(args).await,
        cli::Command::TokenCheck(args) => token_check::main(args).await,
        cli::Command::History(args) => history::main(args).await,
        cli::Command::RestMix(args) => rest_mix::main(args).await,
    }
}
