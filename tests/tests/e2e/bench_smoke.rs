//! A short run of the load generator against a real two-node cluster, as CI's check that the
//! bench and the cluster agree: every acknowledged message (and, in a mixed run, every edit,
//! deletion and reaction) reached every member once, in order. Speed is never asserted here;
//! it is measured by hand (bench/RESULTS.md).

use chat_bench::cli::{Cli, Command};
use chat_bench::mix::OpKind;
use chat_tests::{TestApp, TestNode, TestPersister};
use clap::Parser;

/// Two fresh nodes on one database and stream, with a persister: what every run here drives.
/// Fields drop in order, the persister and the second node before the app that holds the
/// database and stream.
struct TwoNodes {
    _persister: TestPersister,
    _other: TestNode,
    app: TestApp,
    /// `--nodes` for the bench.
    nodes: String,
}

async fn two_nodes() -> TwoNodes {
    let app = TestApp::spawn_with(&["--send-rate", "0"]).await.unwrap();
    let other = app.add_node().await.unwrap();
    let persister = app.start_persister().await.unwrap();
    let nodes = format!("http://{},http://{}", app.node.addr, other.addr);
    TwoNodes { _persister: persister, _other: other, app, nodes }
}

/// A short, small throughput run against two fresh nodes with a persister, with `extra` flags.
async fn short_throughput_run(extra: &[&str]) -> chat_bench::throughput::Outcome {
    let cluster = two_nodes().await;
    let mut argv = vec!["chat-bench", "throughput", "--nodes", &cluster.nodes];
    argv.extend(SMALL_AND_SHORT);
    argv.extend(extra);
    let Command::Throughput(args) = Cli::parse_from(argv).command else {
        unreachable!("throughput was asked for")
    };
    chat_bench::throughput::prepare(&args).await.unwrap().run().await.unwrap()
}

/// The load of every run here: 4 rooms of 5 at 200 sends/s for 2 s.
const SMALL_AND_SHORT: [&str; 12] = [
    "--rooms",
    "4",
    "--members",
    "5",
    "--rate",
    "200",
    "--duration",
    "2",
    "--warmup",
    "0.5",
    "--drain-max",
    "10",
];

#[tokio::test]
async fn a_short_throughput_run_against_two_nodes_is_complete() {
    let results = short_throughput_run(&[]).await.results;
    assert!(results.acked > 0, "nothing was acknowledged: {results:?}");
    assert!(results.is_clean(), "lost, doubled or reordered messages: {results:?}");
}

#[tokio::test]
async fn a_short_throughput_run_over_socket_io_against_two_nodes_is_complete() {
    let results = short_throughput_run(&["--system", "chat-socketio", "--first-attempt"]).await.results;
    assert!(results.acked > 0, "nothing was acknowledged: {results:?}");
    assert!(results.is_clean(), "lost, doubled or reordered messages: {results:?}");
}

#[tokio::test]
async fn a_short_mixed_run_against_two_nodes_is_complete_and_performs_every_kind() {
    // More changes than a measured mix, so each kind surely comes in a run this short.
    let outcome = short_throughput_run(&["--mix", "sends=50,reactions=20,edits=15,deletes=15"]).await;
    let results = outcome.results;
    assert!(results.is_clean(), "lost, doubled or reordered messages or changes: {results:?}");
    let mix = results.mix.as_ref().expect("a mixed run reports its operations");
    for kind in OpKind::ALL {
        let op = mix.op(kind).unwrap_or_else(|| panic!("no {} reported", kind.name()));
        assert!(op.acked > 0, "no {} acknowledged: {results:?}", kind.name());
    }
    assert!(mix.changes_checked > 0, "no change was checked for delivery: {results:?}");
    assert_eq!(outcome.acked_unique, results.acked, "only messages count as rows to store");
}

#[tokio::test]
async fn a_short_persist_run_finds_every_acknowledged_message_in_postgres() {
    let cluster = two_nodes().await;
    let cli = Cli::parse_from(
        [
            "chat-bench",
            "persist",
            "--database-url",
            &cluster.app.db.url,
            "--poll-ms",
            "20",
            "--persist-timeout",
            "30",
            "--nodes",
            &cluster.nodes,
        ]
        .into_iter()
        .chain(SMALL_AND_SHORT),
    );
    let Command::Persist(args) = cli.command else { unreachable!("persist was asked for") };

    let exit = chat_bench::persist::main(args).await.unwrap();

    assert_eq!(exit, std::process::ExitCode::SUCCESS, "not every acknowledged message was stored");
}

#[tokio::test]
async fn a_two_minute_soak_against_two_nodes_is_complete_and_samples_every_row() {
    let cluster = two_nodes().await;
    // The nodes and the persister run inside this process, beside the bench.
    let this_process = format!("tests={}", std::process::id());
    let cli = Cli::parse_from([
        "chat-bench",
        "soak",
        "--nodes",
        &cluster.nodes,
        "--rooms",
        "10",
        "--members",
        "10",
        "--rate",
        "200",
        "--warmup",
        "10",
        "--duration",
        "110",
        "--sample-every",
        "10",
        "--drain-max",
        "10",
        "--watch",
        &this_process,
        "--watch-database",
        &cluster.app.db.name,
    ]);
    let Command::Soak(mut args) = cli.command else { unreachable!("soak was asked for") };
    args.validate().unwrap();

    let outcome = chat_bench::soak::run(&args).await.unwrap();

    // Completeness only: this process runs the rest of the suite too, so its memory says
    // nothing about the cluster's.
    let results = &outcome.results;
    assert!(results.acked > 12_000, "not half of 120 s at 200/s acknowledged: {results:?}");
    assert!(results.is_clean(), "lost, doubled or reordered messages: {results:?}");
    assert_eq!(outcome.samples.len(), 13, "every 10 s from the first send to the end (120 s)");
    for sample in &outcome.samples {
        assert!(sample.usage.iter().all(Option::is_some), "a row went unread: {sample:?}");
    }
    assert_eq!(outcome.drifts.len(), 2, "a drift for each row: {:?}", outcome.rows);
}
