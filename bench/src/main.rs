use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    chat_bench::run(chat_bench::cli::Cli::parse()).await
}
