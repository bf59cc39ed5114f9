//! `chat-node` built inside this package, so the end-to-end tests can start it as a process
//! (Cargo builds a package's binaries before its integration tests, and only its own).

fn main() -> std::process::ExitCode {
    chat_node::cli::main()
}
