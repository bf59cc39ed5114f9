//! `chat-node`: reads its configuration, sets up telemetry, and runs until SIGTERM or Ctrl-C.

use std::process::ExitCode;

use chat_node::config::{Cli, Command};
use chat_node::{Application, telemetry};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init_tracing(&cli.config.log_format);
    let result = match cli.command {
        Some(Command::Migrate) => chat_node::migrate(&cli.config).await,
        None => match Application::build(cli.config).await {
            Ok(app) => app.run_until(telemetry::shutdown_signal()).await,
            Err(err) => Err(err),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chat-node: {err:#}");
            ExitCode::FAILURE
        }
    }
}
