//! The counts that end a flood: malformed frames within a window, and sends refused by the
//! rate limit in a row.

use std::time::Duration;

use tokio::time::Instant;

/// Malformed frames tolerated per window before the connection is closed with 1008.
const MALFORMED_LIMIT: u32 = 10;
const MALFORMED_WINDOW: Duration = Duration::from_secs(10);
/// Entries (sends, edits, deletions, reactions) refused by the rate limit, in a row, before the connection is closed with 4008.
pub(super) const RATE_STRIKES_LIMIT: u32 = 100;
/// What a refused send's reply tells the client to wait: the send limit refills in well under
/// a second, so this only says "not now".
pub(super) const SEND_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The malformed frames of the current window.
#[derive(Debug)]
pub(super) struct Malformed {
    since: Instant,
    count: u32,
}

impl Default for Malformed {
    fn default() -> Self {
        Self { since: Instant::now(), count: 0 }
    }
}

impl Malformed {
    /// Counts one; whether that makes too many for the window.
    pub(super) fn too_many(&mut self) -> bool {
        if self.since.elapsed() > MALFORMED_WINDOW {
            self.since = Instant::now();
            self.count = 0;
        }
        self.count += 1;
        self.count > MALFORMED_LIMIT
    }
}
