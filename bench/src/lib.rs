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
pub mod engineio;
pub mod latency;
pub mod logins;
pub mod mix;
pub mod ops;
pub mod persist;
pub mod receive;
pub mod report;
pub mod send;
pub mod sender_order;
pub mod setup;
pub mod socketio_client;
pub mod stored_seqs;
pub mod tag;
pub mod target;
pub mod throughput;
pub mod token_check;
pub mod versions;

/// Runs one subcommand; the returned code is the process's exit code.
pub async fn run(cli: cli::Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        cli::Command::Throughput(args) => throughput::main(args).await,
        cli::Command::Persist(args) => persist::main(args).await,
        cli::Command::Connections(args) => connections::main(args).await,
        cli::Command::Ceilings(args) => ceilings::main(args).await,
        cli::Command::TokenCheck(args) => token_check::main(args).await,
    }
}
