//! Handles of the metrics counted for every frame and message, looked up once: a lookup by
//! name hashes it under the registry's lock, and one with labels allocates them too.

use std::sync::LazyLock;

use chat_shared::protocol::Command;
use metrics::{Counter, Histogram};

pub static FRAMES_IN: LazyLock<Counter> = LazyLock::new(|| metrics::counter!("chat_ws_frames_in_total"));
pub static FRAMES_OUT: LazyLock<Counter> = LazyLock::new(|| metrics::counter!("chat_ws_frames_out_total"));
pub static FANOUT_SECONDS: LazyLock<Histogram> = LazyLock::new(|| metrics::histogram!("chat_fanout_seconds"));
pub static FANOUT_DELIVERIES: LazyLock<Counter> =
    LazyLock::new(|| metrics::counter!("chat_fanout_deliveries_total"));

/// `chat_ws_commands_total` of the command's type.
pub fn command(command: &Command) -> &'static Counter {
    static BY_TYPE: LazyLock<Vec<(&str, Counter)>> = LazyLock::new(|| {
        Command::NAMES
            .iter()
            .map(|&name| (name, metrics::counter!("chat_ws_commands_total", "type" => name)))
            .collect()
    });
    let name = command.name();
    let (_, counter) = BY_TYPE.iter().find(|(n, _)| *n == name).expect("every command's name is in NAMES");
    counter
}
