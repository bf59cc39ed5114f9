//! The operation mix of a throughput run (`--mix sends=80,reactions=10,edits=5,deletes=5`):
//! which kinds of operation each sending connection performs, in what proportions, and the
//! fixed order in which it draws them.

use std::fmt;
use std::ops::{Index, IndexMut};
use std::str::FromStr;

/// A kind of operation a sending connection performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// `send`: a new message.
    Send,
    /// `react` or `unreact`, alternately, on a recent message of the room.
    Reaction,
    /// `edit` of one of the connection's own recent messages.
    Edit,
    /// `delete` of one of the connection's own messages, which it then leaves alone.
    Delete,
}

impl OpKind {
    pub const ALL: [OpKind; 4] = [OpKind::Send, OpKind::Reaction, OpKind::Edit, OpKind::Delete];

    /// The name in `--mix` and in the report.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Send => "sends",
            OpKind::Reaction => "reactions",
            OpKind::Edit => "edits",
            OpKind::Delete => "deletes",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One value per operation kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerKind<T>(pub [T; 4]);

impl<T> Index<OpKind> for PerKind<T> {
    type Output = T;
    fn index(&self, kind: OpKind) -> &T {
        &self.0[kind.index()]
    }
}

impl<T> IndexMut<OpKind> for PerKind<T> {
    fn index_mut(&mut self, kind: OpKind) -> &mut T {
        &mut self.0[kind.index()]
    }
}

/// How `--mix` can be wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MixError {
    #[error("`{0}` is not KIND=WEIGHT")]
    NotAPair(String),
    #[error("unknown operation `{0}` (sends, reactions, edits, deletes)")]
    UnknownKind(String),
    #[error("the weight of {0} is not a whole number from 0 to 1000000")]
    BadWeight(&'static str),
    #[error("{0} is given twice")]
    Repeated(&'static str),
    /// Every other operation acts on a message, so a mix without sends would have nothing to
    /// act on.
    #[error("a mix needs sends above 0")]
    NoSends,
}

/// Largest weight accepted: enough for any proportion, small enough that the schedule's
/// running sums never come near overflowing.
const MAX_WEIGHT: u32 = 1_000_000;

/// Relative weights of the operation kinds; kinds left out weigh 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    weights: PerKind<u32>,
}

impl Mix {
    pub fn weight(&self, kind: OpKind) -> u32 {
        self.weights[kind]
    }

    /// The kinds this mix draws, in [`OpKind::ALL`] order.
    pub fn kinds(&self) -> impl Iterator<Item = OpKind> + '_ {
        OpKind::ALL.into_iter().filter(|&k| self.weights[k] > 0)
    }

    /// The order a connection draws its operations in, started `offset` draws in so that
    /// connections do not all perform the same kind at the same moment.
    pub fn schedule(&self, offset: u64) -> Schedule {
        let total: u64 = self.weights.0.iter().map(|&w| u64::from(w)).sum();
        let mut schedule = Schedule { weights: self.weights, credit: PerKind::default(), total };
        for _ in 0..offset % total {
            schedule.next_kind();
        }
        schedule
    }
}

impl FromStr for Mix {
    type Err = MixError;

    fn from_str(s: &str) -> Result<Mix, MixError> {
        let mut weights = PerKind::default();
        let mut given = PerKind::<bool>::default();
        for pair in s.split(',') {
            let (name, weight) = pair.split_once('=').ok_or_else(|| MixError::NotAPair(pair.to_owned()))?;
            let kind = OpKind::ALL
                .into_iter()
                .find(|k| k.name() == name.trim())
                .ok_or_else(|| MixError::UnknownKind(name.trim().to_owned()))?;
            if std::mem::replace(&mut given[kind], true) {
                return Err(MixError::Repeated(kind.name()));
            }
            weights[kind] = weight
                .trim()
                .parse()
                .ok()
                .filter(|w| *w <= MAX_WEIGHT)
                .ok_or(MixError::BadWeight(kind.name()))?;
        }
        if weights[OpKind::Send] == 0 {
            return Err(MixError::NoSends);
        }
        Ok(Mix { weights })
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs: Vec<String> = self.kinds().map(|k| format!("{}={}", k.name(), self.weights[k])).collect();
        f.write_str(&pairs.join(","))
    }
}

/// A smooth weighted round-robin over the kinds: each draw adds every kind's weight to its
/// credit and takes the kind with the most, which then pays the total back. Over any run of
/// `total` draws each kind comes exactly its weight's number of times, spread out rather than
/// in blocks, and the same way on every run.
#[derive(Debug, Clone)]
pub struct Schedule {
    weights: PerKind<u32>,
    credit: PerKind<i64>,
    total: u64,
}

impl Schedule {
    pub fn next_kind(&mut self) -> OpKind {
        for kind in OpKind::ALL {
            self.credit[kind] += i64::from(self.weights[kind]);
        }
        // The first of equals wins, so sends go first on a tie.
        let chosen = OpKind::ALL
            .into_iter()
            .reduce(|best, k| if self.credit[k] > self.credit[best] { k } else { best })
            .unwrap_or(OpKind::Send);
        self.credit[chosen] -= self.total as i64;
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix(s: &str) -> Mix {
        s.parse().unwrap()
    }

    fn counts(schedule: &mut Schedule, draws: usize) -> PerKind<u32> {
        let mut counts = PerKind::default();
        for _ in 0..draws {
            counts[schedule.next_kind()] += 1;
        }
        counts
    }

    #[test]
    fn a_mix_reads_as_kind_equals_weight_pairs() {
        let m = mix("sends=80, reactions=10,edits=5,deletes=5");
        assert_eq!(
            OpKind::ALL.map(|k| m.weight(k)),
            [80, 10, 5, 5],
            "in the order of OpKind::ALL whatever the order given"
        );
        assert_eq!(m.to_string(), "sends=80,reactions=10,edits=5,deletes=5");
        assert_eq!(mix("edits=1,sends=3").to_string(), "sends=3,edits=1");
    }

    #[test]
    fn a_bad_mix_says_what_is_wrong() {
        let err = |s: &str| s.parse::<Mix>().unwrap_err();
        assert_eq!(err("sends"), MixError::NotAPair("sends".into()));
        assert_eq!(err("sends=1,likes=2"), MixError::UnknownKind("likes".into()));
        assert_eq!(err("sends=-1"), MixError::BadWeight("sends"));
        assert_eq!(err("sends=2000000"), MixError::BadWeight("sends"));
        assert_eq!(err("sends=1,sends=2"), MixError::Repeated("sends"));
        assert_eq!(err("reactions=10"), MixError::NoSends);
        assert_eq!(err("sends=0,edits=1"), MixError::NoSends);
    }

    #[test]
    fn every_hundred_draws_hold_each_kind_by_its_weight() {
        let m = mix("sends=80,reactions=10,edits=5,deletes=5");
        for offset in [0, 1, 37, 1000] {
            let mut schedule = m.schedule(offset);
            for _ in 0..3 {
                assert_eq!(counts(&mut schedule, 100), PerKind([80, 10, 5, 5]), "offset {offset}");
            }
        }
    }

    #[test]
    fn the_kinds_are_spread_out_not_in_blocks() {
        let mut schedule = mix("sends=80,reactions=10,edits=5,deletes=5").schedule(0);
        let draws: Vec<OpKind> = (0..100).map(|_| schedule.next_kind()).collect();
        let longest_run_of_sends =
            draws.split(|k| *k != OpKind::Send).map(<[OpKind]>::len).max().unwrap_or(0);
        // One other operation every 5 draws on average: never a long block of sends.
        assert!(longest_run_of_sends <= 6, "{draws:?}");
    }

    #[test]
    fn offsets_shift_connections_apart_and_the_same_offset_repeats() {
        let m = mix("sends=2,edits=1");
        let first = |offset| {
            let mut s = m.schedule(offset);
            (0..6).map(|_| s.next_kind()).collect::<Vec<_>>()
        };
        assert_eq!(first(0), first(0));
        assert_eq!(first(0), first(3), "the offset wraps at the total weight");
        assert_ne!(first(0), first(1));
    }

    #[test]
    fn sends_alone_are_all_sends() {
        let mut schedule = mix("sends=1").schedule(5);
        assert!((0..10).all(|_| schedule.next_kind() == OpKind::Send));
    }
}
