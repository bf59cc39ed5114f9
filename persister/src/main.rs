//! `chat-persister`: consumes the message stream and writes it to PostgreSQL.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("chat-persister: the stream consumer is not built yet");
    ExitCode::FAILURE
}
