//! When each sender of a paced run (`--rate`) sends: every sender at the same interval,
//! `senders / rate` seconds, each from its own first send, chosen by `--pace`.

use std::time::Duration;

use clap::ValueEnum;

/// How the senders' first sends are placed within the first interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Pace {
    /// Evenly apart, in the order of the senders: all sends together come at a steady
    /// `1 / rate` apart, as from one metronome.
    Staggered,
    /// At a random point each, as independent clients would be: the total rate is the same,
    /// but sends bunch up and thin out from one moment to the next.
    PerSocket,
}

impl Pace {
    pub fn name(self) -> &'static str {
        match self {
            Pace::Staggered => "staggered",
            Pace::PerSocket => "per-socket",
        }
    }
}

/// One sender's pacing: its first send `offset` after the start, then one every `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderPace {
    pub every: Duration,
    pub offset: Duration,
}

/// The pacing of every sender of a run.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pace: Pace,
    every: Duration,
    senders: usize,
    /// Where the per-socket phases come from, fresh for each run.
    seed: u64,
}

impl Schedule {
    /// `rate` sends per second over `senders` senders; `None` when the run is not paced.
    pub fn new(pace: Pace, rate: f64, senders: usize, seed: u64) -> Option<Schedule> {
        (rate > 0.0 && senders > 0).then(|| Schedule {
            pace,
            every: Duration::from_secs_f64(senders as f64 / rate),
            senders,
            seed,
        })
    }

    /// The pacing of the `index`th sender (counted from 0).
    pub fn sender(&self, index: usize) -> SenderPace {
        let fraction = match self.pace {
            Pace::Staggered => index as f64 / self.senders as f64,
            Pace::PerSocket => unit_interval(splitmix64(self.seed ^ index as u64)),
        };
        SenderPace { every: self.every, offset: self.every.mul_f64(fraction) }
    }
}

/// A well-mixed 64-bit value of `x` (SplitMix64's finalizer): neighbouring indexes get
/// unrelated phases, without a random number generator to carry around.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `x` as a fraction in `[0, 1)`, from its top 53 bits (all an `f64` holds).
fn unit_interval(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unpaced_run_has_no_schedule() {
        assert!(Schedule::new(Pace::Staggered, 0.0, 10, 1).is_none());
        assert!(Schedule::new(Pace::PerSocket, 100.0, 0, 1).is_none());
    }

    #[test]
    fn every_sender_sends_once_per_senders_over_rate_seconds() {
        for pace in [Pace::Staggered, Pace::PerSocket] {
            let schedule = Schedule::new(pace, 2000.0, 1000, 7).unwrap();
            for index in [0, 1, 999] {
                assert_eq!(schedule.sender(index).every, Duration::from_millis(500), "{pace:?}");
            }
        }
    }

    #[test]
    fn staggered_senders_start_evenly_apart_in_order() {
        let schedule = Schedule::new(Pace::Staggered, 400.0, 4, 7).unwrap();
        let offsets: Vec<Duration> = (0..4).map(|i| schedule.sender(i).offset).collect();
        assert_eq!(offsets, [0, 2_500, 5_000, 7_500].map(Duration::from_micros));
    }

    #[test]
    fn per_socket_senders_start_at_random_points_of_the_first_interval() {
        let schedule = Schedule::new(Pace::PerSocket, 2000.0, 1000, 7).unwrap();
        let offsets: Vec<Duration> = (0..1000).map(|i| schedule.sender(i).offset).collect();
        assert!(offsets.iter().all(|o| *o < Duration::from_millis(500)));
        // Spread over the whole interval: each tenth of it holds some, none holds most.
        let mut per_tenth = [0u32; 10];
        for o in &offsets {
            per_tenth[(o.as_secs_f64() / 0.05) as usize] += 1;
        }
        assert!(per_tenth.iter().all(|&n| (50..=150).contains(&n)), "{per_tenth:?}");
        // Not in the senders' order, as staggered ones are.
        assert!(offsets.windows(2).filter(|w| w[0] > w[1]).count() > 300);
    }

    #[test]
    fn per_socket_phases_are_fixed_by_the_seed() {
        let phases = |seed| {
            let schedule = Schedule::new(Pace::PerSocket, 100.0, 10, seed).unwrap();
            (0..10).map(|i| schedule.sender(i).offset).collect::<Vec<_>>()
        };
        assert_eq!(phases(42), phases(42));
        assert_ne!(phases(42), phases(43));
    }
}
