//! `chat-node`: everything happens in [`chat_node::cli::main`].

/// mimalloc gives freed memory back to the system: with the default allocator, each password
/// hash's 19 MiB stayed in the resident set of the thread arena that hashed it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    chat_node::cli::main()
}
