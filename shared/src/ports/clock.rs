use chrono::{DateTime, SubsecRound, Utc};

/// The current time, injectable so expiry rules can be tested without waiting.
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
