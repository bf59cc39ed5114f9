//! The soak's sampler: reads every watched row at fixed points of the run (from the first send
//! every `--sample-every`, at the end of the warm-up and at the end of sending, while the
//! sockets are still open) and prints each sample as it is taken.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::throughput::Phases;
use crate::watch::{Target, Usage};

/// What a sample marks besides its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    Periodic,
    /// The end of the warm-up: what the drift is measured from.
    WarmupEnd,
    /// The end of sending: what the drift is measured to.
    End,
}

/// When a sample is taken, counted from the first send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleTime {
    pub after: Duration,
    pub mark: Mark,
}

/// Every `every` from 0 until `end`, and at `warmup` and at `end`; a periodic sample that falls
/// on one of those two is that one.
pub fn sample_times(warmup: Duration, end: Duration, every: Duration) -> Vec<SampleTime> {
    let mut times: Vec<SampleTime> = std::iter::successors(Some(Duration::ZERO), |t| Some(*t + every))
        .take_while(|t| *t < end)
        .map(|after| SampleTime { after, mark: Mark::Periodic })
        .collect();
    times.push(SampleTime { after: warmup.min(end), mark: Mark::WarmupEnd });
    times.push(SampleTime { after: end, mark: Mark::End });
    // The strongest mark of each instant stays: sorted by time, then mark, the last of a run.
    times.sort_by_key(|t| (t.after, t.mark));
    times.dedup_by(|later, earlier| {
        let same = later.after == earlier.after;
        if same {
            earlier.mark = earlier.mark.max(later.mark);
        }
        same
    });
    times
}

/// The usage of every row at one instant, in the order of the targets.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Seconds since the first send.
    pub after_secs: f64,
    pub mark: Mark,
    /// `None` for a process that is gone.
    pub usage: Vec<Option<Usage>>,
}

/// Samples `targets` at the [`sample_times`] of `phases`, printing a line for each sample.
pub async fn run(targets: Vec<Target>, phases: Phases, every: Duration) -> anyhow::Result<Vec<Sample>> {
    let warmup = phases.measure_from - phases.start_at;
    let end = phases.end_at - phases.start_at;
    let mut samples: Vec<Sample> = Vec::new();
    for time in sample_times(warmup, end, every) {
        tokio::time::sleep_until(phases.start_at + time.after).await;
        let reading = targets.clone();
        // A few files per process, and a scan of /proc for the database's backends.
        let usage: Vec<Option<Usage>> =
            tokio::task::spawn_blocking(move || reading.iter().map(Target::read).collect()).await?;
        let sample = Sample { after_secs: time.after.as_secs_f64(), mark: time.mark, usage };
        println!("{}", line(&targets, &sample, samples.last()));
        samples.push(sample);
    }
    Ok(samples)
}

/// A sample as one line: each row's memory, files, threads, and CPU since the sample before.
fn line(targets: &[Target], sample: &Sample, before: Option<&Sample>) -> String {
    let mut out = format!("sample {:>6.0} s", sample.after_secs);
    match sample.mark {
        Mark::Periodic => {}
        Mark::WarmupEnd => out.push_str(" (warm-up end)"),
        Mark::End => out.push_str(" (end)"),
    }
    for (i, (target, usage)) in targets.iter().zip(&sample.usage).enumerate() {
        let _ = write!(out, " | {target}: ");
        let Some(u) = usage else {
            out.push_str("GONE");
            continue;
        };
        if let Target::DatabaseBackends { .. } = target {
            let _ = write!(out, "{} processes, ", u.processes);
        }
        let _ = write!(out, "{} RSS, {} fds, {} threads", mib(u.rss_bytes), u.fds, u.threads);
        let earlier = before.and_then(|b| Some((b.after_secs, b.usage[i]?)));
        if let Some((at, was)) = earlier.filter(|(at, _)| sample.after_secs > *at) {
            let cores = (u.cpu_secs - was.cpu_secs) / (sample.after_secs - at);
            let _ = write!(out, ", {cores:.2} cores");
        }
    }
    out
}

/// Bytes as MiB with one decimal, for people.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::Watched;

    fn secs(times: &[SampleTime]) -> Vec<(u64, Mark)> {
        times.iter().map(|t| (t.after.as_secs(), t.mark)).collect()
    }

    #[test]
    fn samples_come_every_interval_and_at_the_warm_up_end_and_the_end() {
        let times = sample_times(Duration::from_secs(90), Duration::from_secs(200), Duration::from_secs(60));
        assert_eq!(
            secs(&times),
            [
                (0, Mark::Periodic),
                (60, Mark::Periodic),
                (90, Mark::WarmupEnd),
                (120, Mark::Periodic),
                (180, Mark::Periodic),
                (200, Mark::End)
            ]
        );
    }

    #[test]
    fn a_periodic_sample_on_a_marked_instant_is_the_marked_one() {
        let times = sample_times(Duration::from_secs(60), Duration::from_secs(120), Duration::from_secs(60));
        assert_eq!(secs(&times), [(0, Mark::Periodic), (60, Mark::WarmupEnd), (120, Mark::End)]);
        let no_warmup = sample_times(Duration::ZERO, Duration::from_secs(10), Duration::from_secs(60));
        assert_eq!(secs(&no_warmup), [(0, Mark::WarmupEnd), (10, Mark::End)]);
    }

    #[test]
    fn a_line_names_every_row_and_its_cpu_since_the_sample_before() {
        let targets = [
            Target::Process(Watched { name: "node".into(), pid: 7 }),
            Target::DatabaseBackends { database: "soak1".into() },
        ];
        let usage = |cpu_secs| Usage {
            processes: 3,
            rss_bytes: 3 << 20,
            rss_shmem_bytes: 0,
            fds: 40,
            threads: 5,
            cpu_secs,
        };
        let before = Sample { after_secs: 0.0, mark: Mark::Periodic, usage: vec![Some(usage(1.0)), None] };
        let now =
            Sample { after_secs: 10.0, mark: Mark::End, usage: vec![Some(usage(6.0)), Some(usage(2.0))] };
        assert_eq!(
            line(&targets, &now, Some(&before)),
            "sample     10 s (end) | node (pid 7): 3.0 MiB RSS, 40 fds, 5 threads, 0.50 cores \
             | postgres backends of soak1: 3 processes, 3.0 MiB RSS, 40 fds, 5 threads"
        );
        let gone = Sample { after_secs: 20.0, mark: Mark::Periodic, usage: vec![None, None] };
        assert!(
            line(&targets, &gone, Some(&now))
                .ends_with("node (pid 7): GONE | postgres backends of soak1: GONE")
        );
    }
}
