use chrono::{DateTime, SubsecRound, Utc};

/// The current wall time, injectable so expiry rules can be tested without waiting. Waits and
/// timers (presence grace, typing throttle, pings, a session's token expiry) run on tokio's
/// clock; tests of both use `memory::TokioClock`, whose wall time moves with tokio's paused
/// time, so one `tokio::time::advance` moves all of them together.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock, to the microsecond: the precision the databases keep, so a value reads
/// back exactly as it was handed out.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}
