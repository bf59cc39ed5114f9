use std::sync::Mutex;

use chrono::{DateTime, Duration, SubsecRound, Utc};

use crate::ports::Clock;

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Mutex::new(start))
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Wall time that moves with tokio's clock: the machine's time when made, advanced since by
/// tokio's monotonic clock. A test that pauses and advances tokio's time so moves the wall time
/// that token expiry reads and the timers of sessions and presence together: one clock.
#[derive(Debug)]
pub struct TokioClock {
    wall_at_start: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl TokioClock {
    pub fn new() -> Self {
        Self { wall_at_start: Utc::now().trunc_subsecs(6), start: tokio::time::Instant::now() }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = Duration::from_std(self.start.elapsed()).unwrap_or(Duration::MAX);
        (self.wall_at_start + elapsed).trunc_subsecs(6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokio_time_moves_the_wall_clock_by_as_much() {
        let clock = TokioClock::new();
        let before = clock.now();
        tokio::time::advance(std::time::Duration::from_secs(3600)).await;
        assert_eq!(clock.now() - before, Duration::hours(1));
    }
}
