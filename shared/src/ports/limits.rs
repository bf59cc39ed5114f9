//! Rate limits shared by every node: how many attempts a client, a username or a user may make
//! in a period.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;

use super::errors::StoreError;

/// At most `count` events in any `period`: a burst of `count` at once, then one every
/// `period / count` (the generic cell rate algorithm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    count: NonZeroU32,
    period: Duration,
}

/// Why a quota setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    #[error("expected COUNT/PERIOD, e.g. 10/1m, or off")]
    Shape,
    #[error("the count must be a whole number from 1 to 4294967295")]
    Count,
    #[error("the period must be a duration above zero, e.g. 30s, 1m, 1h")]
    Period,
}

impl Quota {
    pub fn new(count: NonZeroU32, period: Duration) -> Result<Self, QuotaError> {
        // Below a microsecond per event the interval would round to nothing.
        if period.as_micros() < u128::from(count.get()) {
            return Err(QuotaError::Period);
        }
        Ok(Self { count, period })
    }

    pub fn count(&self) -> u32 {
        self.count.get()
    }

    pub fn period(&self) -> Duration {
        self.period
    }

    /// The time one event uses up: `period / count`.
    pub fn interval(&self) -> Duration {
        self.period / self.count.get()
    }
}

impl FromStr for Quota {
    type Err = QuotaError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (count, period) = text.trim().split_once('/').ok_or(QuotaError::Shape)?;
        let count = count.trim().parse::<NonZeroU32>().map_err(|_| QuotaError::Count)?;
        let period = humantime::parse_duration(period.trim()).map_err(|_| QuotaError::Period)?;
        Quota::new(count, period)
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, humantime::format_duration(self.period))
    }
}

/// A limit as configured: a quota, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitSetting {
    Off,
    On(Quota),
}

impl LimitSetting {
    pub fn quota(self) -> Option<Quota> {
        match self {
            LimitSetting::Off => None,
            LimitSetting::On(quota) => Some(quota),
        }
    }
}

impl FromStr for LimitSetting {
    type Err = QuotaError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "off" | "0" => Ok(LimitSetting::Off),
            quota => quota.parse().map(LimitSetting::On),
        }
    }
}

impl fmt::Display for LimitSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitSetting::Off => f.write_str("off"),
            LimitSetting::On(quota) => quota.fmt(f),
        }
    }
}

/// The answer to one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Counted against the quota.
    Allowed,
    /// Not counted: the quota is spent until `retry_after` has passed.
    Limited { retry_after: Duration },
}

/// Counts attempts per key against a quota. Every node asking about one key shares the count
/// (one store for the cluster, or the process when embedded). A key that has not been used for
/// its quota's period is forgotten.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one attempt for `key` unless that would exceed `quota`. Atomic: of many
    /// concurrent attempts exactly as many are allowed as the quota has left.
    async fn acquire(&self, key: &str, quota: Quota) -> Result<Decision, StoreError>;

    /// Gives back one attempt counted earlier for `key` (one that turned out to be legitimate).
    async fn release(&self, key: &str, quota: Quota) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_reads_as_count_per_period() {
        let quota: Quota = "10/1m".parse().unwrap();
        assert_eq!((quota.count(), quota.period()), (10, Duration::from_secs(60)));
        assert_eq!(quota.interval(), Duration::from_secs(6));
        assert_eq!(quota.to_string().parse::<Quota>().unwrap(), quota);
        assert_eq!(" 3 / 15m ".parse::<Quota>().unwrap().period(), Duration::from_secs(900));
    }

    #[test]
    fn a_malformed_quota_says_what_is_wrong() {
        assert_eq!("10".parse::<Quota>(), Err(QuotaError::Shape));
        assert_eq!("0/1m".parse::<Quota>(), Err(QuotaError::Count));
        assert_eq!("-1/1m".parse::<Quota>(), Err(QuotaError::Count));
        assert_eq!("99999999999/1m".parse::<Quota>(), Err(QuotaError::Count));
        assert_eq!("10/soon".parse::<Quota>(), Err(QuotaError::Period));
        assert_eq!("10/0s".parse::<Quota>(), Err(QuotaError::Period));
        assert_eq!("1000/1ns".parse::<Quota>(), Err(QuotaError::Period));
    }

    #[test]
    fn a_limit_is_a_quota_or_off() {
        assert_eq!("off".parse::<LimitSetting>(), Ok(LimitSetting::Off));
        assert_eq!("0".parse::<LimitSetting>(), Ok(LimitSetting::Off));
        let on: LimitSetting = "5/1s".parse().unwrap();
        assert_eq!(on.quota().map(|q| q.count()), Some(5));
        assert_eq!(on.to_string(), "5/1s");
        assert_eq!(LimitSetting::Off.to_string(), "off");
        assert_eq!(LimitSetting::Off.quota(), None);
    }
}
