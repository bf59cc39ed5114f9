//! `chat-persister`: everything happens in [`chat_persister::cli_main`].

fn main() -> std::process::ExitCode {
    chat_persister::cli_main()
}
