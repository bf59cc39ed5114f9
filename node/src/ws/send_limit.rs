//! The rate limit on one connection's sends: `send_rate` a second, with bursts of up to
//! `send_burst` (never less than one second's worth).

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::config::WsSettings;

/// A connection's limiter on the clock `C`: the real clock in a session, a fake one in tests.
type SendLimiter<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// The limiter of a new connection; `None` when sends are unlimited (`send_rate` 0).
pub(super) fn limiter(settings: &WsSettings) -> Option<DefaultDirectRateLimiter> {
    limiter_on(settings.send_rate, settings.send_burst, DefaultClock::default())
}

fn limiter_on<C: Clock>(rate: u32, burst: u32, clock: C) -> Option<SendLimiter<C>> {
    let rate = NonZeroU32::new(rate)?;
    let burst = NonZeroU32::new(burst.max(rate.get())).unwrap_or(rate);
    Some(RateLimiter::direct_with_clock(Quota::per_second(rate).allow_burst(burst), clock))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use governor::clock::FakeRelativeClock;
    use proptest::prelude::*;

    use super::*;

    /// Sends attempted after each pause (in milliseconds); whether each was allowed, and when.
    fn attempts(rate: u32, burst: u32, pauses: &[u64]) -> Vec<(u64, bool)> {
        let clock = FakeRelativeClock::default();
        let limiter = limiter_on(rate, burst, clock.clone()).expect("a rate above zero limits");
        let mut now = 0;
        pauses
            .iter()
            .map(|&pause| {
                clock.advance(Duration::from_millis(pause));
                now += pause;
                (now, limiter.check().is_ok())
            })
            .collect()
    }

    /// The burst the limiter allows: a second's worth at least.
    fn effective_burst(rate: u32, burst: u32) -> u64 {
        u64::from(burst.max(rate))
    }

    #[test]
    fn a_rate_of_zero_means_unlimited() {
        assert!(limiter_on(0, 50, FakeRelativeClock::default()).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        // Times are whole milliseconds and rates at most 50, so governor's emission interval,
        // a whole number of nanoseconds (1 s / rate rounded down), cannot add a send to any
        // window of up to 150 s: the rounding gains less than a thousandth of one.
        #[test]
        fn no_window_allows_more_than_the_burst_and_the_rate_over_its_length(
            rate in 1u32..=50,
            burst in 0u32..=100,
            pauses in prop::collection::vec(prop_oneof![Just(0u64), 0u64..20, 0u64..500], 1..300),
        ) {
            let allowed: Vec<u64> =
                attempts(rate, burst, &pauses).into_iter().filter(|(_, ok)| *ok).map(|(at, _)| at).collect();
            let burst = effective_burst(rate, burst);
            // The fullest window starts and ends with an allowed send.
            for (i, start) in allowed.iter().enumerate() {
                for (j, end) in allowed.iter().enumerate().skip(i) {
                    let count = (j - i + 1) as u64;
                    let length_ms = end - start;
                    prop_assert!(
                        count * 1000 <= burst * 1000 + u64::from(rate) * length_ms,
                        "{count} sends allowed in {length_ms} ms at {rate}/s with a burst of {burst}"
                    );
                }
            }
        }

        #[test]
        fn a_sender_that_keeps_to_the_rate_is_never_refused(
            rate in 1u32..=50,
            burst in 0u32..=100,
            first in 0u64..10_000,
            slack in prop::collection::vec(0u64..1000, 1..200),
        ) {
            let interval = 1000_u64.div_ceil(u64::from(rate));
            let pauses: Vec<u64> =
                std::iter::once(first).chain(slack.iter().map(|extra| interval + extra)).collect();
            for (at, ok) in attempts(rate, burst, &pauses) {
                prop_assert!(ok, "refused at {at} ms at {rate}/s, keeping {interval} ms apart or more");
            }
        }

        #[test]
        fn a_full_burst_at_once_is_allowed_and_no_more(rate in 1u32..=1000, burst in 0u32..=1000) {
            let burst_len = effective_burst(rate, burst) as usize;
            let results = attempts(rate, burst, &vec![0; burst_len + 1]);
            prop_assert!(results[..burst_len].iter().all(|(_, ok)| *ok));
            prop_assert!(!results[burst_len].1);
        }
    }
}
