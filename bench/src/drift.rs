//! How much each watched row grew from the end of the warm-up to the end of sending, and
//! whether that passes: resident memory within `--max-drift` percent, and every process still
//! there.

use serde::Serialize;

use crate::sampler::{Mark, Sample};
use crate::watch::Usage;

/// One row's figures over the soak.
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    /// What the row covers (`node-8080 (pid 123)`, `postgres backends of soak1`).
    pub row: String,
    /// At the end of the warm-up; `None` if the process was gone.
    pub at_warmup_end: Option<Usage>,
    /// At the end of sending; `None` if the process was gone.
    pub at_end: Option<Usage>,
    /// Growth of each from the first to the second, in percent of the first.
    pub rss_pct: Option<f64>,
    /// The same for resident memory without the shared part (see [`Usage::rss_shmem_bytes`]).
    pub private_rss_pct: Option<f64>,
    pub fds_pct: Option<f64>,
    pub threads_pct: Option<f64>,
    /// The most resident memory of any sample from the warm-up end on, in bytes.
    pub rss_max_bytes: Option<u64>,
    /// CPU cores used on average from the end of the warm-up to the end of sending.
    pub cpu_cores: Option<f64>,
}

/// Why a soak failed on its samples.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DriftFailure {
    #[error("{row}: resident memory drifted {pct:+.1} %, above the limit of {limit} %")]
    Rss { row: String, pct: f64, limit: f64 },
    #[error("{row}: the process was gone before the end")]
    Gone { row: String },
}

/// Each row's drift between the samples marked warm-up end and end.
pub fn drifts(rows: &[String], samples: &[Sample]) -> Vec<Drift> {
    let marked = |mark| samples.iter().find(|s| s.mark == mark);
    let (Some(from), Some(to)) = (marked(Mark::WarmupEnd), marked(Mark::End)) else {
        return Vec::new();
    };
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            let (first, last) = (from.usage[i], to.usage[i]);
            let both = first.zip(last);
            let pct = |field: fn(&Usage) -> u64| both.map(|(a, b)| percent(field(&a), field(&b)));
            let span = to.after_secs - from.after_secs;
            Drift {
                row: row.clone(),
                at_warmup_end: first,
                at_end: last,
                rss_pct: pct(|u| u.rss_bytes),
                private_rss_pct: pct(|u| u.rss_bytes.saturating_sub(u.rss_shmem_bytes)),
                fds_pct: pct(|u| u.fds),
                threads_pct: pct(|u| u.threads),
                rss_max_bytes: samples
                    .iter()
                    .filter(|s| s.after_secs >= from.after_secs)
                    .filter_map(|s| s.usage[i].map(|u| u.rss_bytes))
                    .max(),
                cpu_cores: both.filter(|_| span > 0.0).map(|(a, b)| (b.cpu_secs - a.cpu_secs) / span),
            }
        })
        .collect()
}

/// Growth from `from` to `to` in percent of `from`; from nothing, any growth is infinite.
pub fn percent(from: u64, to: u64) -> f64 {
    match (from, to) {
        (0, 0) => 0.0,
        (0, _) => f64::INFINITY,
        _ => (to as f64 - from as f64) / from as f64 * 100.0,
    }
}

/// What fails the soak: a row whose resident memory grew more than `limit` percent, or a
/// process missing at either end. Shrinking never fails it.
pub fn failures(drifts: &[Drift], limit: f64) -> Vec<DriftFailure> {
    drifts
        .iter()
        .filter_map(|d| match d.rss_pct {
            None => Some(DriftFailure::Gone { row: d.row.clone() }),
            Some(pct) if pct > limit => Some(DriftFailure::Rss { row: d.row.clone(), pct, limit }),
            Some(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(rss_mib: u64, fds: u64, cpu_secs: f64) -> Option<Usage> {
        Some(Usage { processes: 1, rss_bytes: rss_mib << 20, rss_shmem_bytes: 0, fds, threads: 4, cpu_secs })
    }

    fn sample(after_secs: f64, mark: Mark, usage: Vec<Option<Usage>>) -> Sample {
        Sample { after_secs, mark, usage }
    }

    #[test]
    fn growth_is_a_percentage_of_the_first_value() {
        assert_eq!(percent(100, 105), 5.0);
        assert_eq!(percent(200, 150), -25.0);
        assert_eq!(percent(0, 0), 0.0);
        assert_eq!(percent(0, 1), f64::INFINITY);
    }

    #[test]
    fn drift_runs_from_the_warm_up_end_to_the_end_of_sending() {
        let rows = vec!["node".to_owned(), "persister".to_owned()];
        let samples = [
            sample(0.0, Mark::Periodic, vec![usage(10, 10, 0.0), usage(10, 10, 0.0)]),
            sample(60.0, Mark::WarmupEnd, vec![usage(100, 20, 30.0), usage(50, 10, 6.0)]),
            sample(120.0, Mark::Periodic, vec![usage(110, 22, 60.0), usage(50, 10, 12.0)]),
            sample(180.0, Mark::End, vec![usage(104, 21, 90.0), usage(51, 10, 18.0)]),
        ];
        let d = drifts(&rows, &samples);
        assert_eq!(d[0].rss_pct, Some(4.0));
        assert_eq!(d[0].fds_pct, Some(5.0));
        assert_eq!(d[0].threads_pct, Some(0.0));
        assert_eq!(d[0].rss_max_bytes, Some(110 << 20), "the peak between counts too");
        assert_eq!(d[0].cpu_cores, Some(0.5));
        assert_eq!(d[1].rss_pct, Some(2.0));
        assert!(failures(&d, 5.0).is_empty());
        assert_eq!(failures(&d, 3.0), [DriftFailure::Rss { row: "node".into(), pct: 4.0, limit: 3.0 }]);
    }

    #[test]
    fn a_process_gone_by_the_end_fails_the_soak() {
        let rows = vec!["node".to_owned()];
        let samples =
            [sample(0.0, Mark::WarmupEnd, vec![usage(100, 20, 1.0)]), sample(10.0, Mark::End, vec![None])];
        let d = drifts(&rows, &samples);
        assert_eq!((d[0].rss_pct, d[0].cpu_cores), (None, None));
        assert_eq!(failures(&d, 5.0), [DriftFailure::Gone { row: "node".into() }]);
    }

    #[test]
    fn private_memory_leaves_out_the_shared_pages() {
        let backend = |rss_mib: u64, shmem_mib: u64| {
            Some(Usage { rss_shmem_bytes: shmem_mib << 20, ..usage(rss_mib, 10, 0.0).unwrap() })
        };
        let rows = vec!["backends".to_owned()];
        let samples = [
            sample(0.0, Mark::WarmupEnd, vec![backend(100, 50)]),
            sample(10.0, Mark::End, vec![backend(120, 70)]),
        ];
        let d = drifts(&rows, &samples);
        assert_eq!((d[0].rss_pct, d[0].private_rss_pct), (Some(20.0), Some(0.0)));
    }

    #[test]
    fn shrinking_memory_passes() {
        let rows = vec!["node".to_owned()];
        let samples = [
            sample(0.0, Mark::WarmupEnd, vec![usage(100, 20, 1.0)]),
            sample(10.0, Mark::End, vec![usage(60, 20, 2.0)]),
        ];
        assert!(failures(&drifts(&rows, &samples), 5.0).is_empty());
    }
}
