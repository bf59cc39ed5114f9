//! `chat-bench`, the load generator of the chat cluster: it drives real `chat-node` processes
//! over REST and WebSocket and reports throughput, latency percentiles, whether every message
//! arrived exactly once and in order, and how fast the persister catches up.

pub mod cli;
pub mod client;
pub mod completeness;
pub mod latency;
pub mod persist;
pub mod report;
pub mod setup;
pub mod tag;
pub mod target;
pub mod throughput;

/// Runs one subcommand; the returned code is the process's exit code.
pub async fn run(cli: cli::Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        cli::Command::Throughput(args) => throughput::main(args).await,
        cli::Command::Persist(args) => persist::main(args).await,
    }
}
