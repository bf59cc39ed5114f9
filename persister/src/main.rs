//! `chat-persister`: reads its configuration, sets up telemetry, and runs until SIGTERM.

use std::process::ExitCode;

use chat_adapters::telemetry;
use chat_persister::{Cli, Persister};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init_tracing(&cli.log_format);
    let result = match Persister::build(cli).await {
        Ok(persister) => persister.run_until(telemetry::shutdown_signal()).await,
        Err(err) => Err(err),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chat-persister: {err:#}");
            ExitCode::FAILURE
        }
    }
}
