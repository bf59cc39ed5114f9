//! `chat-persister` built inside this package, so the end-to-end tests can start and kill it as
//! a process.

fn main() -> std::process::ExitCode {
    chat_persister::cli_main()
}
