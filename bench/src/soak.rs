//! The soak scenario: a long paced throughput run while the sampler reads the processes under
//! test every `--sample-every`; it passes when nothing was lost, duplicated or reordered and no
//! process's resident memory grew more than `--max-drift` percent after the warm-up.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;

use crate::cli::SoakArgs;
use crate::drift::{self, Drift, DriftFailure};
use crate::report::{self, ThroughputResults};
use crate::sampler::{self, Sample, mib};
use crate::throughput::{self, Phases};
use crate::watch::Target;
use crate::{target, versions};

/// What a soak measured.
pub struct SoakOutcome {
    pub results: ThroughputResults,
    pub samples: Vec<Sample>,
    /// What each row of the samples covers, in their order.
    pub rows: Vec<String>,
    pub drifts: Vec<Drift>,
    pub failures: Vec<DriftFailure>,
}

pub async fn main(mut args: SoakArgs) -> anyhow::Result<ExitCode> {
    args.validate()?;
    let outcome = run(&args).await?;
    let clean = outcome.results.is_clean();
    let ok = clean && outcome.failures.is_empty();
    let versions = versions::detect(&args.throughput, &target::parse_nodes(&args.throughput.nodes)?).await;
    print!("{}", report::table(&args.throughput, &outcome.results));
    print!("{}", table(&args, &outcome));
    throughput::warn(&outcome.results);
    for failure in &outcome.failures {
        eprintln!("FAILED: {failure}");
    }
    let mut result = report::result_json("soak", &args.throughput, &outcome.results, None, &versions, ok);
    result["params"]["sample_every_secs"] = json!(args.sample_every);
    result["params"]["max_drift_pct"] = json!(args.max_drift);
    result["soak"] = json!({
        "completeness_ok": clean,
        "drift": outcome.drifts,
        "failures": outcome.failures,
        "rows": outcome.rows,
        "samples": outcome.samples,
    });
    println!("RESULT {result}");
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Runs the soak of validated `args`: the throughput run and, beside it, the sampler.
pub async fn run(args: &SoakArgs) -> anyhow::Result<SoakOutcome> {
    let mut targets: Vec<Target> = args.watch.iter().cloned().map(Target::Process).collect();
    if let Some(database) = &args.watch_database {
        targets.push(Target::DatabaseBackends { database: database.clone() });
    }
    let rows: Vec<String> = targets.iter().map(Target::to_string).collect();

    let prepared = throughput::prepare(&args.throughput).await?;
    let phases = Phases::starting_soon(&args.throughput);
    let every = Duration::from_secs_f64(args.sample_every);
    let sampling = tokio::spawn(sampler::run(targets, phases, every));
    let outcome = prepared.run_in(phases).await?;
    let samples = sampling.await??;

    let drifts = drift::drifts(&rows, &samples);
    let failures = drift::failures(&drifts, args.max_drift);
    Ok(SoakOutcome { results: outcome.results, samples, rows, drifts, failures })
}

/// The human table of a soak's samples: each row at the end of the warm-up and at the end of
/// sending, and how much it grew.
pub fn table(args: &SoakArgs, outcome: &SoakOutcome) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "soak: {} samples every {} s; drift from the end of the warm-up ({} s) to the end of sending \
         ({} s later); CPU in cores averaged over that span",
        outcome.samples.len(),
        args.sample_every,
        args.throughput.warmup_secs(),
        args.throughput.duration
    );
    let _ = writeln!(
        out,
        "  {:<34} {:>5} {:>11} {:>11} {:>8} {:>11} {:>11} {:>8} {:>7} {:>7} {:>8} {:>5} {:>5} {:>8} {:>6}",
        "row",
        "procs",
        "RSS warm-up",
        "RSS end",
        "drift",
        "RSS max",
        "shared end",
        "private",
        "fds w-u",
        "fds end",
        "drift",
        "thr",
        "thr",
        "drift",
        "cores"
    );
    for d in &outcome.drifts {
        let (Some(first), Some(last)) = (d.at_warmup_end, d.at_end) else {
            let _ = writeln!(out, "  {:<34} GONE", d.row);
            continue;
        };
        let _ = writeln!(
            out,
            "  {:<34} {:>5} {:>11} {:>11} {:>8} {:>11} {:>11} {:>8} {:>7} {:>7} {:>8} {:>5} {:>5} {:>8} {:>6.2}",
            d.row,
            last.processes,
            mib(first.rss_bytes),
            mib(last.rss_bytes),
            pct(d.rss_pct),
            d.rss_max_bytes.map_or_else(|| "-".into(), mib),
            mib(last.rss_shmem_bytes),
            pct(d.private_rss_pct),
            first.fds,
            last.fds,
            pct(d.fds_pct),
            first.threads,
            last.threads,
            pct(d.threads_pct),
            d.cpu_cores.unwrap_or_default()
        );
    }
    let _ = writeln!(
        out,
        "  (a process by id is that process alone; \"postgres backends of DB\" sums the backends \
         serving the database at each sample, shared buffers counted in each one's RSS, and CPU \
         of backends that exited in between is not counted; \"shared\" is RssShmem at the end, \
         \"private\" the drift of RSS without it; the limit applies to RSS)"
    );
    let verdict = if outcome.failures.is_empty() { "OK" } else { "FAILED" };
    let _ = writeln!(out, "soak drift (RSS at most {} %): {verdict}", args.max_drift);
    out
}

fn pct(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |p| format!("{p:+.1} %"))
}
