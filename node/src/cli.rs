//! The command line: reads the configuration, sets up telemetry, and runs until SIGTERM or
//! Ctrl-C. A library function so that tests can run the very same entry point as a process.

use std::process::ExitCode;

use clap::Parser;

use crate::config::{Cli, Command};
use crate::{Application, telemetry};

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match chat_adapters::runtime::multi_thread(cli.config.worker_threads) {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("chat-node: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        telemetry::init_tracing(cli.config.log_format);
        let result = match cli.command {
            Some(Command::Migrate) => crate::migrate(&cli.config).await,
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
    })
}
