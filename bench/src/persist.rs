//! The persist scenario: a throughput run while counting the run's rows in PostgreSQL, then
//! how long after sending ended the persister has stored every acknowledged message. With
//! `--pause-persister` the persisters are stopped for the whole run (an outage) and continued
//! after it, and the rate at which they work off the backlog is the catch-up rate.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::cli::PersistArgs;
use crate::report::{self, CatchUp, PersistResults};
use crate::stored_seqs::StoredSeqs;
use crate::{target, throughput, versions};

/// How many of the run's rows were stored at an instant: while it sends, all of them;
/// after, the acknowledged ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub at: Instant,
    pub rows: u64,
}

/// What the poller looks for once the run has ended: every acknowledged message, by the deadline.
struct Goal {
    acked: StoredSeqs,
    deadline: Instant,
}

struct Polled {
    samples: Vec<Sample>,
    /// The run's rows at the end, acknowledged or not.
    final_rows: u64,
}

pub async fn main(args: PersistArgs) -> anyhow::Result<ExitCode> {
    args.throughput.validate()?;
    anyhow::ensure!(
        args.throughput.system.is_chat(),
        "persist counts the chat cluster's rows; the Socket.IO peer stores nothing"
    );
    target::check_database_url(&args.database_url)?;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&args.database_url)
        .await
        .context("connecting to --database-url")?;

    let prepared = throughput::prepare(&args.throughput).await?;
    let rooms = prepared.room_ids()?;
    let (goal_tx, goal_rx) = oneshot::channel::<Goal>();
    let poll_every = Duration::from_millis(args.poll_ms.max(1));
    let poller = tokio::spawn(poll(pool, rooms, poll_every, goal_rx));

    let outage = Outage::begin(&args.pause_persister)?;
    let outcome = prepared.run().await?;
    let resumed_at = outage.end();
    let deadline = outcome.send_ended + Duration::from_secs_f64(args.persist_timeout);
    let _ = goal_tx.send(Goal { acked: StoredSeqs::new(outcome.acked_seqs), deadline });
    let Polled { samples, final_rows } = poller.await??;
    let times = Times {
        send_started: outcome.send_started,
        send_ended: outcome.send_ended,
        last_ack: outcome.last_reply,
        resumed_at,
    };
    let persist = evaluate(&samples, final_rows, outcome.acked_unique, times);

    let ok = outcome.results.is_clean() && persist.reached;
    let versions = versions::detect(&args.throughput, &target::parse_nodes(&args.throughput.nodes)?).await;
    print!("{}", report::table(&args.throughput, &outcome.results));
    print!("{}", report::persist_table(&persist));
    throughput::warn(&outcome.results);
    if !persist.reached {
        eprintln!(
            "FAILED: PostgreSQL did not hold every acknowledged message within {} s",
            args.persist_timeout
        );
    }
    if persist.final_rows > persist.target_rows {
        eprintln!(
            "WARNING: more rows than acknowledged messages ({} > {})",
            persist.final_rows, persist.target_rows
        );
    }
    println!(
        "{}",
        report::result_line("persist", &args.throughput, &outcome.results, Some(&persist), &versions, ok)
    );
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Counts the rooms' rows while the run sends; once it has ended, follows which acknowledged
/// messages are stored until all are or the deadline passes (see [`StoredSeqs`]), then counts
/// the rows once more for the final figure.
async fn poll(
    pool: sqlx::PgPool,
    rooms: Vec<uuid::Uuid>,
    every: Duration,
    mut goal: oneshot::Receiver<Goal>,
) -> anyhow::Result<Polled> {
    let mut samples = Vec::new();
    let Goal { mut acked, deadline } = loop {
        if let Ok(goal) = goal.try_recv() {
            break goal;
        }
        let rows = count_rows(&pool, &rooms).await?;
        samples.push(Sample { at: Instant::now(), rows });
        tokio::time::sleep(every).await;
    };
    loop {
        let above: Vec<i64> =
            sqlx::query_scalar("select seq from messages where room_id = any($1) and seq > $2")
                .bind(&rooms)
                .bind(i64::try_from(acked.watermark()).unwrap_or(i64::MAX))
                .fetch_all(&pool)
                .await
                .context("reading the run's stored seqs")?;
        let rows = acked.update(above.into_iter().map(|seq| seq.max(0) as u64).collect());
        let now = Instant::now();
        samples.push(Sample { at: now, rows });
        if acked.complete() || now >= deadline {
            break;
        }
        tokio::time::sleep(every).await;
    }
    let final_rows = count_rows(&pool, &rooms).await?;
    Ok(Polled { samples, final_rows })
}

async fn count_rows(pool: &sqlx::PgPool, rooms: &[uuid::Uuid]) -> anyhow::Result<u64> {
    let rows: i64 = sqlx::query_scalar("select count(*) from messages where room_id = any($1)")
        .bind(rooms)
        .fetch_one(pool)
        .await
        .context("counting the run's messages")?;
    Ok(rows as u64)
}

/// Persisters stopped with SIGSTOP until [`Outage::end`], or until dropped: a bench that fails
/// midway never leaves them stopped.
struct Outage {
    pids: Vec<u32>,
}

impl Outage {
    fn begin(pids: &[u32]) -> anyhow::Result<Outage> {
        let outage = Outage { pids: pids.to_vec() };
        for &pid in pids {
            signal(pid, "STOP")?;
        }
        if !pids.is_empty() {
            eprintln!("outage: persister(s) {pids:?} stopped until the run ends");
        }
        Ok(outage)
    }

    /// Continues the persisters; when they were continued, if any were stopped.
    fn end(mut self) -> Option<Instant> {
        let pids = std::mem::take(&mut self.pids);
        continue_all(&pids);
        (!pids.is_empty()).then(Instant::now)
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        continue_all(&self.pids);
    }
}

fn continue_all(pids: &[u32]) {
    for &pid in pids {
        if let Err(err) = signal(pid, "CONT") {
            eprintln!("WARNING: could not continue persister {pid}: {err:#}");
        }
    }
}

/// `kill -<name> <pid>`: no signal crate for two signals sent a few times per run.
fn signal(pid: u32, name: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .context("running kill")?;
    anyhow::ensure!(status.success(), "kill -{name} {pid} failed ({status})");
    Ok(())
}

/// When the run's send phase began and ended, when its last send was acknowledged, and when
/// paused persisters were continued.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    pub send_started: Instant,
    pub send_ended: Instant,
    pub last_ack: Instant,
    pub resumed_at: Option<Instant>,
}

/// Reads the catch-up from the counts taken during and after the run. The last sample tells
/// whether every acknowledged message was stored; the first to reach the target, when. (A
/// count taken while sending includes rows never acknowledged, so with unanswered sends it can
/// date the catch-up a little early.)
pub fn evaluate(samples: &[Sample], final_rows: u64, target: u64, times: Times) -> PersistResults {
    let Times { send_started, send_ended, last_ack, resumed_at } = times;
    let stored = samples.last().map_or(0, |s| s.rows);
    let rows_at_send_end = samples.iter().take_while(|s| s.at <= send_ended).last().map_or(0, |s| s.rows);
    let reached = stored >= target;
    let reached_at = samples.iter().find(|s| s.rows >= target).map(|s| s.at).filter(|_| reached);
    let end = reached_at.or(samples.last().map(|s| s.at)).unwrap_or(send_ended);
    let catch_up_secs = end.saturating_duration_since(send_ended).as_secs_f64();
    let span = end.saturating_duration_since(send_started).as_secs_f64();
    PersistResults {
        target_rows: target,
        final_rows,
        reached,
        rows_at_send_end,
        catch_up_secs,
        catch_up_after_last_ack_secs: end.saturating_duration_since(last_ack).as_secs_f64(),
        rows_per_sec: if span > 0.0 { stored.min(target) as f64 / span } else { 0.0 },
        catch_up: resumed_at.map(|resumed| {
            let rows_at_resume = samples.iter().take_while(|s| s.at <= resumed).last().map_or(0, |s| s.rows);
            let backlog = target.saturating_sub(rows_at_resume);
            let secs = end.saturating_duration_since(resumed).as_secs_f64();
            let stored = stored.min(target).saturating_sub(rows_at_resume);
            CatchUp {
                backlog_rows: backlog,
                secs,
                rows_per_sec: if secs > 0.0 { stored as f64 / secs } else { 0.0 },
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catch_up_counts_from_the_end_of_sending_to_the_first_full_count() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let samples = [
            Sample { at: at(0), rows: 0 },
            Sample { at: at(5_000), rows: 400 },
            Sample { at: at(10_000), rows: 900 },
            Sample { at: at(10_500), rows: 990 },
            Sample { at: at(11_000), rows: 1_000 },
        ];
        let times =
            Times { send_started: at(0), send_ended: at(10_000), last_ack: at(10_400), resumed_at: None };
        let p = evaluate(&samples, 1_000, 1_000, times);
        assert!(p.reached);
        assert_eq!(p.rows_at_send_end, 900);
        assert!((p.catch_up_secs - 1.0).abs() < 1e-6, "{p:?}");
        assert!((p.catch_up_after_last_ack_secs - 0.6).abs() < 1e-6, "{p:?}");
        assert!((p.rows_per_sec - 1_000.0 / 11.0).abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn a_count_that_never_arrives_is_not_reached() {
        let start = Instant::now();
        let samples = [Sample { at: start + Duration::from_secs(30), rows: 10 }];
        let end = start + Duration::from_secs(10);
        let times = Times { send_started: start, send_ended: end, last_ack: end, resumed_at: None };
        let p = evaluate(&samples, 10, 11, times);
        assert!(!p.reached);
        assert_eq!((p.final_rows, p.catch_up_secs), (10, 20.0));
        assert!(p.catch_up.is_none());
    }

    #[test]
    fn after_an_outage_the_backlog_counts_from_the_resume() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        // Nothing stored while paused; continued at 12 s with 10,000 rows to write.
        let samples = [
            Sample { at: at(0), rows: 0 },
            Sample { at: at(11_900), rows: 0 },
            Sample { at: at(12_100), rows: 2_000 },
            Sample { at: at(12_500), rows: 10_000 },
        ];
        let times = Times {
            send_started: at(0),
            send_ended: at(10_000),
            last_ack: at(11_000),
            resumed_at: Some(at(12_000)),
        };
        let p = evaluate(&samples, 10_000, 10_000, times);
        let catch_up = p.catch_up.expect("an outage was given");
        assert_eq!(catch_up.backlog_rows, 10_000);
        assert!((catch_up.secs - 0.5).abs() < 1e-6, "{catch_up:?}");
        assert!((catch_up.rows_per_sec - 20_000.0).abs() < 1e-6, "{catch_up:?}");
    }

    #[test]
    fn a_count_that_included_unacknowledged_rows_is_not_a_catch_up() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        // While sending, 100 rows counted, two of them never acknowledged; after, 99 of the
        // 100 acknowledged ones stored.
        let samples = [Sample { at: at(9_000), rows: 100 }, Sample { at: at(12_000), rows: 99 }];
        let times =
            Times { send_started: at(0), send_ended: at(10_000), last_ack: at(10_000), resumed_at: None };
        let p = evaluate(&samples, 101, 100, times);
        assert!(!p.reached, "{p:?}");
        assert_eq!(p.final_rows, 101);
        assert!((p.catch_up_secs - 2.0).abs() < 1e-6, "{p:?}");
    }
}
