//! Latency accounting: the bench's monotonic clock, the measurement window that leaves the
//! warm-up out, and histograms of microseconds with their percentile summary.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Nanoseconds since the bench started; the one clock every send stamp and receipt uses, so
/// latencies are differences on one monotonic clock in one process.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
}

impl Clock {
    pub fn start() -> Clock {
        Clock { origin: Instant::now() }
    }

    pub fn now(&self) -> u64 {
        self.at(Instant::now())
    }

    pub fn at(&self, instant: Instant) -> u64 {
        instant.saturating_duration_since(self.origin).as_nanos() as u64
    }

    /// The instant a clock reading names.
    pub fn instant(&self, nanos: u64) -> Instant {
        self.origin + Duration::from_nanos(nanos)
    }
}

/// The measured part of the send phase, `[from, to)` in clock nanoseconds: after the warm-up,
/// until sending stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: u64,
    pub to: u64,
}

impl Window {
    pub fn contains(&self, t: u64) -> bool {
        (self.from..self.to).contains(&t)
    }

    pub fn seconds(&self) -> f64 {
        Duration::from_nanos(self.to.saturating_sub(self.from)).as_secs_f64()
    }

    /// Events per second over the window.
    pub fn rate(&self, count: u64) -> f64 {
        let secs = self.seconds();
        if secs > 0.0 { count as f64 / secs } else { 0.0 }
    }
}

/// Highest latency tracked exactly; anything slower is recorded as this (and shows as the max).
const MAX_MICROS: u64 = 60_000_000;
/// Three significant digits: every percentile is within 0.1% of the true value.
const SIGNIFICANT_DIGITS: u8 = 3;

/// Latencies in microseconds. One per connection (about 70 KiB each), merged for the report.
#[derive(Debug, Clone)]
pub struct Latencies {
    histogram: Histogram<u32>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    pub fn new() -> Latencies {
        let histogram = Histogram::new_with_bounds(1, MAX_MICROS, SIGNIFICANT_DIGITS)
            .expect("the bounds are constants and valid");
        Latencies { histogram }
    }

    /// Records the time from `sent_at` to `received_at` (clock nanoseconds); below 1 µs counts
    /// as 1 µs.
    pub fn record(&mut self, sent_at: u64, received_at: u64) {
        let micros = received_at.saturating_sub(sent_at) / 1_000;
        self.histogram.saturating_record(micros.clamp(1, MAX_MICROS));
    }

    pub fn merge(&mut self, other: &Latencies) {
        // Both come from the same constructor, so their bounds match and adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    pub fn summary(&self) -> Summary {
        let h = &self.histogram;
        let ms = |micros: u64| micros as f64 / 1_000.0;
        if h.is_empty() {
            return Summary::default();
        }
        Summary {
            count: h.len(),
            mean_ms: h.mean() / 1_000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= b * 0.001 + 0.001
    }

    #[test]
    fn percentiles_of_one_to_a_hundred_milliseconds() {
        let mut latencies = Latencies::new();
        for i in 1..=100 {
            latencies.record(5 * MS, 5 * MS + i * MS);
        }
        let s = latencies.summary();
        assert_eq!(s.count, 100);
        assert!(close(s.p50_ms, 50.0), "{s:?}");
        assert!(close(s.p95_ms, 95.0), "{s:?}");
        assert!(close(s.p99_ms, 99.0), "{s:?}");
        assert!(close(s.max_ms, 100.0), "{s:?}");
        assert!(close(s.mean_ms, 50.5), "{s:?}");
    }

    #[test]
    fn merged_connections_count_every_sample() {
        let mut fast = Latencies::new();
        let mut slow = Latencies::new();
        for _ in 0..90 {
            fast.record(0, MS);
        }
        for _ in 0..10 {
            slow.record(0, 200 * MS);
        }
        let mut total = Latencies::new();
        total.merge(&fast);
        total.merge(&slow);
        let s = total.summary();
        assert_eq!(s.count, 100);
        assert!(close(s.p50_ms, 1.0) && close(s.p95_ms, 200.0) && close(s.max_ms, 200.0), "{s:?}");
    }

    #[test]
    fn a_receipt_before_its_stamp_or_below_a_microsecond_counts_as_one_microsecond() {
        let mut latencies = Latencies::new();
        latencies.record(10, 5);
        latencies.record(10, 500);
        assert_eq!(latencies.summary().max_ms, 0.001);
    }

    #[test]
    fn latencies_past_a_minute_are_clamped_not_lost() {
        let mut latencies = Latencies::new();
        latencies.record(0, 3_600 * 1_000 * MS);
        let s = latencies.summary();
        assert_eq!(s.count, 1);
        assert!(close(s.max_ms, 60_000.0), "{s:?}");
    }

    #[test]
    fn an_empty_histogram_summarizes_to_zeros() {
        assert_eq!(Latencies::new().summary(), Summary::default());
    }

    #[test]
    fn the_window_leaves_out_the_warmup_and_rates_over_its_length() {
        let window = Window { from: 2_000 * MS, to: 12_000 * MS };
        assert!(!window.contains(1_999 * MS));
        assert!(window.contains(2_000 * MS));
        assert!(!window.contains(12_000 * MS));
        assert_eq!(window.seconds(), 10.0);
        assert_eq!(window.rate(25_000), 2_500.0);
    }
}
