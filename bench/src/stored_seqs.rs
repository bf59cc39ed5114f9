//! Which acknowledged messages PostgreSQL holds, learnt cheaply while a persister catches up.
//!
//! A full `count(*)` of a run's rows reads every row again on each poll: over a backlog of
//! 250,000 rows it takes tens of milliseconds, and polled every 20 ms it keeps a database
//! core busy that the persister should have. Instead, a watermark is kept below which every
//! acknowledged seq is known stored (rows are never deleted), and each poll reads only the
//! seqs stored above it: every row is read about once.

/// The acknowledged seqs, and how many of them, from the lowest, are known stored.
#[derive(Debug, Clone)]
pub struct StoredSeqs {
    expected: Vec<u64>,
    confirmed: usize,
}

impl StoredSeqs {
    pub fn new(mut expected: Vec<u64>) -> StoredSeqs {
        expected.sort_unstable();
        expected.dedup();
        StoredSeqs { expected, confirmed: 0 }
    }

    /// Every acknowledged seq up to this one is stored; a poll needs only the seqs above it.
    pub fn watermark(&self) -> u64 {
        self.confirmed.checked_sub(1).map_or(0, |last| self.expected[last])
    }

    /// Takes the seqs stored above the watermark (in any order, unacknowledged ones included)
    /// and tells how many acknowledged seqs are stored in all.
    pub fn update(&mut self, mut above: Vec<u64>) -> u64 {
        above.sort_unstable();
        let mut found = above.into_iter().peekable();
        let mut stored = self.confirmed;
        let mut contiguous = true;
        for &seq in &self.expected[self.confirmed..] {
            while found.next_if(|&s| s < seq).is_some() {}
            if found.next_if_eq(&seq).is_some() {
                stored += 1;
                if contiguous {
                    self.confirmed += 1;
                }
            } else {
                contiguous = false;
            }
        }
        stored as u64
    }

    /// Whether every acknowledged seq is stored.
    pub fn complete(&self) -> bool {
        self.confirmed == self.expected.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_stored_leaves_the_watermark_at_zero() {
        let mut seqs = StoredSeqs::new(vec![3, 1, 2]);
        assert_eq!(seqs.update(vec![]), 0);
        assert_eq!(seqs.watermark(), 0);
        assert!(!seqs.complete());
    }

    #[test]
    fn the_watermark_stops_below_the_first_hole() {
        let mut seqs = StoredSeqs::new(vec![1, 2, 3, 5, 8]);

        // 3 is not stored yet (a batch committed out of order); 9 was never acknowledged.
        assert_eq!(seqs.update(vec![8, 1, 5, 2, 9]), 4);

        assert_eq!(seqs.watermark(), 2);
        assert!(!seqs.complete());
    }

    #[test]
    fn a_hole_filled_later_moves_the_watermark_past_what_was_already_seen() {
        let mut seqs = StoredSeqs::new(vec![1, 2, 3, 5, 8]);
        seqs.update(vec![1, 2, 5, 8]);

        assert_eq!(seqs.update(vec![3, 5, 8]), 5);

        assert_eq!(seqs.watermark(), 8);
        assert!(seqs.complete());
    }

    #[test]
    fn unacknowledged_rows_and_repeated_seqs_are_not_counted() {
        let mut seqs = StoredSeqs::new(vec![10, 20, 20]);

        assert_eq!(seqs.update(vec![5, 10, 15, 25]), 1);

        assert_eq!(seqs.watermark(), 10);
    }

    #[test]
    fn no_acknowledged_seqs_is_complete_at_once() {
        let seqs = StoredSeqs::new(vec![]);
        assert!(seqs.complete());
        assert_eq!(seqs.watermark(), 0);
    }
}
