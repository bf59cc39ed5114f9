//! The command line: reads the configuration, sets up telemetry, and runs until SIGTERM or
//! Ctrl-C. A library function so that tests can run the very same entry point as a process.

use std::process::ExitCode;

use chat_adapters::runtime;
use clap::Parser;

use crate::config::{Cli, Command};
use crate::{Application, telemetry};

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let (worker_threads, log_format) = (cli.config.worker_threads, cli.config.log_format);
    runtime::main("chat-node", worker_threads, log_format, async move {
        match cli.command {
            Some(Command::Migrate) => crate::migrate(&cli.config).await,
            Some(Command::Admin(command)) => crate::administer(&cli.config, command).await,
            None => Application::build(cli.config).await?.run_until(telemetry::shutdown_signal()).await,
        }
    })
}
