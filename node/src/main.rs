//! `chat-node`: everything happens in [`chat_node::cli::main`].

fn main() -> std::process::ExitCode {
    chat_node::cli::main()
}
