//! What a run prints: a table for people on stdout, and one `RESULT {json}` line for scripts
//! with the scenario, the results, the machine and the versions of what ran.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use serde::Serialize;
use serde_json::{Value, json};

use crate::cli::{System, ThroughputArgs};
use crate::completeness::Completeness;
use crate::latency::Summary;
use crate::logins::LoginResults;
use crate::mix::OpKind;

/// The machine the run happened on; the servers share it with the bench.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
}

impl Machine {
    pub fn detect() -> Machine {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Machine { cores, cpu_model: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".into()) }
    }
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
}

/// CPU seconds this process has used so far (user + system, all threads).
pub fn process_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    cpu_secs_of_stat(&stat).unwrap_or(0.0)
}

pub(crate) fn cpu_secs_of_stat(stat: &str) -> Option<f64> {
    // Fields after the command name (which may hold spaces, hence the last ')'): state is
    // field 3, utime 14 and stime 15, in clock ticks of 1/100 s on Linux.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// CPU seconds each process under test has used so far: those of `pids`, and every running
/// process whose command (`/proc/<pid>/comm`) is one of `commands`.
pub fn servers_cpu_secs(pids: &[u32], commands: &[String]) -> HashMap<u32, f64> {
    let mut wanted: Vec<u32> = pids.to_vec();
    if !commands.is_empty() {
        let running = std::fs::read_dir("/proc").into_iter().flatten().flatten();
        let numbered = running.filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok());
        wanted.extend(numbered.filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| commands.iter().any(|c| c == comm.trim_end()))
        }));
    }
    wanted
        .into_iter()
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some((pid, cpu_secs_of_stat(&stat)?))
        })
        .collect()
}

/// CPU seconds the processes used between two snapshots of [`servers_cpu_secs`]. A process
/// that started in between (a database backend the run's first send opened) counts all its
/// time; one that ended in between counts none.
pub fn cpu_secs_between(before: &HashMap<u32, f64>, after: &HashMap<u32, f64>) -> f64 {
    after.iter().map(|(pid, secs)| secs - before.get(pid).copied().unwrap_or(0.0)).sum()
}

/// CPU seconds the whole machine has been busy so far (every core, every process).
pub fn machine_busy_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    busy_secs_of_proc_stat(&stat).unwrap_or(0.0)
}

fn busy_secs_of_proc_stat(stat: &str) -> Option<f64> {
    // `cpu  user nice system idle iowait irq softirq steal ...`, in ticks of 1/100 s.
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<f64> = line.split_whitespace().skip(1).filter_map(|t| t.parse().ok()).collect();
    let busy = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| ticks.get(i)).sum::<f64>();
    Some(busy / 100.0)
}

/// Everything a throughput run measured.
#[derive(Debug, Clone, Serialize)]
pub struct ThroughputResults {
    /// `chat` or `socketio`: which completeness rule the counts below follow.
    pub system: &'static str,
    pub run_prefix: String,
    pub users: u64,
    pub senders: u64,
    pub register_secs: f64,
    pub rooms_secs: f64,
    pub connect_secs: f64,
    /// Length of the measured window (the send phase after the warm-up).
    pub window_secs: f64,
    /// Send frames written over the whole send phase, warm-up included. Under a mix the
    /// figures of sends here are those of `send` alone; `mix` has every kind's.
    pub sends: u64,
    /// Sends answered `ok: true`, warm-up included.
    pub acked: u64,
    /// Sends answered `ok: false`, by error code.
    pub refused: BTreeMap<String, u64>,
    /// Sends (under a mix: operations of any kind) that got no reply at all.
    pub unanswered: u64,
    /// Paced ticks skipped because the connection already had `--in-flight` sends waiting.
    pub skipped_sends: u64,
    pub sends_per_sec: f64,
    pub acks_per_sec: f64,
    /// `message` frames received by every member connection, the sender's own copy included.
    pub deliveries_per_sec: f64,
    /// The same without the sender's own copy.
    pub deliveries_to_others_per_sec: f64,
    pub ack_latency: Summary,
    pub delivery_latency: Summary,
    /// Logins made during the window (`--login-rate`), if any.
    pub logins: Option<LoginResults>,
    /// Every kind of operation of a `--mix` run; absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mix: Option<MixResults>,
    /// Over every acknowledged entry of the rooms: messages, and under a mix the edits,
    /// deletions and reactions.
    pub completeness: Completeness,
    /// Up to 20 deliveries that never came: which connection (and node), room, and which
    /// message (seq and id for chat, sender and request counter for the peer).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_examples: Vec<MissingExample>,
    /// `error` frames by code.
    pub error_frames: BTreeMap<String, u64>,
    /// Frames that did not decode, or messages of another room or without the bench's tag.
    pub undecodable_frames: u64,
    pub foreign_messages: u64,
    /// Connections that ended before the bench closed them, by close code or error.
    pub early_closes: BTreeMap<String, u64>,
    /// Seconds from the end of sending until the last frame arrived (the drain).
    pub drain_secs: f64,
    /// CPU the bench itself used during the send phase and drain, in cores.
    pub bench_cpu_cores: f64,
    /// CPU the whole machine used meanwhile (servers, bench and anything else), in cores.
    pub machine_cpu_cores: f64,
    /// CPU the `--server-pids` processes used meanwhile, in cores (0 without them).
    pub servers_cpu_cores: f64,
    /// The rest: what other jobs on the machine took, `machine - bench - servers`, in cores.
    /// Without `--server-pids` it includes the servers.
    pub other_cpu_cores: f64,
}

impl ThroughputResults {
    /// Whether the run saw every message delivered as the contract promises.
    pub fn is_clean(&self) -> bool {
        self.completeness.is_clean()
            && self.unanswered == 0
            && self.early_closes.is_empty()
            && self.logins.as_ref().is_none_or(|l| l.failed.is_empty())
    }
}

/// One kind of operation of a mix, over every sending connection.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OpResults {
    /// Written over the whole send phase, warm-up included.
    pub written: u64,
    /// Answered `ok: true`, warm-up included.
    pub acked: u64,
    pub written_per_sec: f64,
    pub acks_per_sec: f64,
    /// Write → reply.
    pub ack_latency: Summary,
    /// Answered `ok: false`, by error code.
    pub refused: BTreeMap<String, u64>,
}

/// What a `--mix` run measured besides the message figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MixResults {
    /// By kind (`sends`, `reactions`, `edits`, `deletes`), for the kinds of the mix. An
    /// operation drawn before it has anything to act on is written as a send and counts as one.
    pub ops: BTreeMap<&'static str, OpResults>,
    /// Distinct acknowledged edits, deletions and reactions, checked for delivery with the
    /// messages (in `completeness`).
    pub changes_checked: u64,
    /// `message_edited`, `message_deleted` and `reaction` frames received by every member
    /// connection, the writer's own copy included.
    pub change_deliveries_per_sec: f64,
    /// Edit → `message_edited` received, the editor's own copy included.
    pub edit_delivery_latency: Summary,
    /// Reactions, edits and deletes answered `not_found`: one that met a message deleted in the
    /// meantime. Expected rarely (a reaction of the first seconds to a message its author
    /// deletes soon after); counted, no failure.
    pub not_found: u64,
}

impl MixResults {
    pub fn op(&self, kind: OpKind) -> Option<&OpResults> {
        self.ops.get(kind.name())
    }
}

/// One expected delivery that never arrived, to report a lost message precisely.
#[derive(Debug, Clone, Serialize)]
pub struct MissingExample {
    pub connection: u32,
    pub node: String,
    pub room: String,
    #[serde(flatten)]
    pub message: LostMessage,
    /// Whether it was the last acknowledged message of its room (chat) or of its sender
    /// (peer): nothing after it could reveal the gap to a receiver that detects gaps by the
    /// next message.
    pub last_in_room: bool,
}

/// Which message a lost delivery was, in the terms of the system under test.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum LostMessage {
    /// Chat: the room seq and message id the server acknowledged.
    Seq { seq: u64, message_id: String },
    /// Socket.IO peer: the sending connection and its request counter, from the tag.
    Send { sender: u32, request: u64 },
}

/// Persistence catch-up after a throughput run.
#[derive(Debug, Clone, Serialize)]
pub struct PersistResults {
    /// Distinct acknowledged messages, the row count to reach.
    pub target_rows: u64,
    pub final_rows: u64,
    pub reached: bool,
    /// Rows in PostgreSQL when sending ended.
    pub rows_at_send_end: u64,
    /// Seconds from the end of sending until the count was reached (or the timeout).
    pub catch_up_secs: f64,
    /// Seconds from the last acknowledgement (in-flight sends are answered after sending
    /// stops) until the count was reached: the persister's own lag.
    pub catch_up_after_last_ack_secs: f64,
    /// Rows written per second from the first send until the count was reached.
    pub rows_per_sec: f64,
    /// After an outage (`--pause-persister`): working off the backlog.
    pub catch_up: Option<CatchUp>,
}

/// The persisters' work after an outage, from the moment they were continued.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CatchUp {
    /// Acknowledged messages not in PostgreSQL when the persisters were continued.
    pub backlog_rows: u64,
    /// Seconds from continuing them until PostgreSQL held every acknowledged message.
    pub secs: f64,
    pub rows_per_sec: f64,
}

pub fn params_json(args: &ThroughputArgs) -> Value {
    let mut params = json!({
        "system": args.system.name(),
        "nodes": args.nodes,
        "rooms": args.rooms,
        "members": args.members,
        "senders_per_room": args.senders_per_room(),
        "rate": args.rate,
        "duration_secs": args.duration,
        "warmup_secs": args.warmup_secs(),
        "in_flight": args.in_flight,
        "codec": args.codec.name(),
        "content_bytes": args.content_bytes,
        "client_msg_id": args.system.is_chat() && !args.no_client_msg_id,
        "first_attempt": args.first_attempt,
    });
    if let Some(mix) = &args.mix {
        params["mix"] = json!(mix.to_string());
    }
    if args.rate > 0.0 {
        params["pace"] = json!(args.pace.name());
    }
    params
}

/// The line scripts grep for: `RESULT ` and one JSON object.
pub fn result_line(
    scenario: &str,
    args: &ThroughputArgs,
    throughput: &ThroughputResults,
    persist: Option<&PersistResults>,
    versions: &BTreeMap<String, String>,
    ok: bool,
) -> String {
    format!("RESULT {}", result_json(scenario, args, throughput, persist, versions, ok))
}

/// The JSON object of the RESULT line, for a scenario that adds its own fields.
pub fn result_json(
    scenario: &str,
    args: &ThroughputArgs,
    throughput: &ThroughputResults,
    persist: Option<&PersistResults>,
    versions: &BTreeMap<String, String>,
    ok: bool,
) -> Value {
    let mut value = json!({
        "bench": "chat-bench",
        "version": env!("CARGO_PKG_VERSION"),
        "scenario": scenario,
        "label": args.label,
        "ok": ok,
        "params": params_json(args),
        "machine": Machine::detect(),
        "versions": versions,
        "results": throughput,
    });
    if let Some(persist) = persist {
        value["persist"] = json!(persist);
    }
    value
}

fn counts(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ")
}

fn latency_row(out: &mut String, name: &str, s: &Summary) {
    let _ = writeln!(
        out,
        "  {name:<22} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>10}",
        s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms, s.mean_ms, s.count
    );
}

/// The human table of a throughput run.
pub fn table(args: &ThroughputArgs, r: &ThroughputResults) -> String {
    let mut out = String::new();
    let pace = if args.rate > 0.0 {
        format!("paced at {} sends/s ({})", args.rate, args.pace.name())
    } else {
        "flat out".into()
    };
    let _ = writeln!(
        out,
        "chat-bench {} | {} | run {} | {} node(s) | {} rooms x {} members | {} senders {} | in-flight {} | {} | {} B{}",
        env!("CARGO_PKG_VERSION"),
        args.system.name(),
        r.run_prefix,
        args.nodes.len(),
        args.rooms,
        args.members,
        r.senders,
        pace,
        args.in_flight,
        args.codec.name(),
        args.content_bytes,
        match (args.no_client_msg_id, args.first_attempt) {
            (true, _) => " | no client_msg_id",
            (false, true) => " | first_attempt",
            (false, false) => "",
        },
    );
    let _ = match args.system {
        System::Chat | System::ChatSocketio => writeln!(
            out,
            "setup: {} users registered in {:.1} s, {} rooms in {:.1} s, sockets joined in {:.1} s",
            r.users, r.register_secs, args.rooms, r.rooms_secs, r.connect_secs
        ),
        System::Socketio => writeln!(
            out,
            "setup: {} sockets joined to {} rooms in {:.1} s (no accounts)",
            r.users, args.rooms, r.connect_secs
        ),
    };
    let _ = writeln!(
        out,
        "window: {:.1} s after {:.1} s warm-up; drain {:.2} s",
        r.window_secs,
        args.warmup_secs(),
        r.drain_secs
    );
    let _ = writeln!(out, "  {:<32} {:>12}", "rate", "per second");
    for (name, rate) in [
        ("sends written", r.sends_per_sec),
        ("sends acknowledged", r.acks_per_sec),
        ("deliveries (all members)", r.deliveries_per_sec),
        ("deliveries (to others)", r.deliveries_to_others_per_sec),
    ] {
        let _ = writeln!(out, "  {name:<32} {rate:>12.1}");
    }
    let _ = writeln!(
        out,
        "  {:<22} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}",
        "latency (ms)", "p50", "p95", "p99", "max", "mean", "samples"
    );
    latency_row(&mut out, "ack (send -> reply)", &r.ack_latency);
    latency_row(&mut out, "delivery (send -> recv)", &r.delivery_latency);
    if let Some(mix) = &r.mix {
        latency_row(&mut out, "edit (edit -> recv)", &mix.edit_delivery_latency);
    }
    if let Some(logins) = &r.logins {
        latency_row(&mut out, "login (POST /auth/login)", &logins.latency);
        let _ = writeln!(
            out,
            "logins: {} started ({:.1}/s), {} ok, failed: {}",
            logins.attempted,
            logins.per_sec,
            logins.ok,
            counts(&logins.failed)
        );
    }
    if let Some(mix) = &r.mix {
        mix_rows(&mut out, mix);
    }
    let c = &r.completeness;
    let acknowledged = match &r.mix {
        Some(mix) => format!("{} messages and {} changes acknowledged", r.acked, mix.changes_checked),
        None => format!("{} acknowledged", r.acked),
    };
    let _ = writeln!(
        out,
        "completeness ({}): {acknowledged}, {} expected deliveries, {} delivered; missing {}, duplicated {}, \
         out of order {}, mismatched id {}, conflicting acks {}, unacknowledged {} -> {}",
        match args.system {
            System::Chat | System::ChatSocketio => "room seq order",
            System::Socketio => "per-sender order",
        },
        c.expected,
        c.delivered,
        c.missing,
        c.duplicated,
        c.out_of_order,
        c.mismatched_id,
        c.conflicting_acks,
        c.unacknowledged,
        if c.is_clean() { "OK" } else { "FAILED" }
    );
    let _ = writeln!(
        out,
        "sends: {} written, {} unanswered, {} skipped; refused: {}; error frames: {}; early closes: {}; \
         undecodable {}, foreign {}",
        r.sends,
        r.unanswered,
        r.skipped_sends,
        counts(&r.refused),
        counts(&r.error_frames),
        counts(&r.early_closes),
        r.undecodable_frames,
        r.foreign_messages
    );
    for m in &r.missing_examples {
        let (what, last) = match &m.message {
            LostMessage::Seq { seq, message_id } => (format!("seq {seq} (id {message_id})"), "the room's"),
            LostMessage::Send { sender, request } => {
                (format!("send {request} of connection {sender}"), "its sender's")
            }
        };
        let _ = writeln!(
            out,
            "  missing: connection {} on {} did not get {what} of room {}{}",
            m.connection,
            m.node,
            m.room,
            if m.last_in_room { format!(", {last} last message") } else { String::new() }
        );
    }
    let _ = writeln!(
        out,
        "CPU during the run: bench {:.2} cores, servers {:.2}, other jobs {:.2}, whole machine {:.2} cores",
        r.bench_cpu_cores, r.servers_cpu_cores, r.other_cpu_cores, r.machine_cpu_cores
    );
    out
}

/// The operations of a mix, one row per kind, and what their changes cost the members.
fn mix_rows(out: &mut String, mix: &MixResults) {
    let _ = writeln!(
        out,
        "  {:<12} {:>10} {:>10} {:>9} {:>9} {:>9}  refused",
        "operation", "written/s", "acked/s", "acked", "ack p50", "ack p99"
    );
    for kind in OpKind::ALL {
        let Some(op) = mix.op(kind) else { continue };
        let _ = writeln!(
            out,
            "  {:<12} {:>10.1} {:>10.1} {:>9} {:>9.3} {:>9.3}  {}",
            kind.name(),
            op.written_per_sec,
            op.acks_per_sec,
            op.acked,
            op.ack_latency.p50_ms,
            op.ack_latency.p99_ms,
            counts(&op.refused)
        );
    }
    let _ = writeln!(
        out,
        "  changes delivered (all members): {:.1}/s; not_found replies: {} (an operation that met a \
         message deleted meanwhile: expected rarely, not a failure)",
        mix.change_deliveries_per_sec, mix.not_found
    );
}

pub fn persist_table(p: &PersistResults) -> String {
    let mut out = format!(
        "persist: {} of {} rows {} {:.2} s after sending ended ({:.2} s after the last ack); \
         {} rows when sending ended; {:.1} rows/s from first send\n",
        p.final_rows,
        p.target_rows,
        if p.reached { "stored" } else { "NOT stored, gave up" },
        p.catch_up_secs,
        p.catch_up_after_last_ack_secs,
        p.rows_at_send_end,
        p.rows_per_sec
    );
    if let Some(c) = p.catch_up {
        let _ = writeln!(
            out,
            "catch-up after the outage: {} rows of backlog stored in {:.2} s = {:.0} rows/s",
            c.backlog_rows, c.secs, c.rows_per_sec
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_model_comes_from_cpuinfo() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(cpu_model(cpuinfo).as_deref(), Some("AMD EPYC 7B13"));
    }

    #[test]
    fn cpu_time_reads_past_a_command_with_spaces() {
        let stat = "42 (chat bench) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1";
        assert_eq!(cpu_secs_of_stat(stat), Some(3.0));
    }

    #[test]
    fn a_lost_chat_message_keeps_its_seq_and_id_fields() {
        let example = MissingExample {
            connection: 3,
            node: "http://127.0.0.1:8080".into(),
            room: "r".into(),
            message: LostMessage::Seq { seq: 9, message_id: "m".into() },
            last_in_room: true,
        };
        let value = serde_json::to_value(&example).unwrap();
        assert_eq!(value["seq"], 9);
        assert_eq!(value["message_id"], "m");
        assert_eq!(value["last_in_room"], true);
        let peer = MissingExample { message: LostMessage::Send { sender: 4, request: 12 }, ..example };
        let value = serde_json::to_value(&peer).unwrap();
        assert_eq!((value["sender"].as_u64(), value["request"].as_u64()), (Some(4), Some(12)));
        assert!(value.get("seq").is_none());
    }

    #[test]
    fn servers_are_found_by_pid_and_by_command() {
        let me = std::process::id();
        let comm = std::fs::read_to_string(format!("/proc/{me}/comm")).unwrap();
        assert!(servers_cpu_secs(&[me], &[]).contains_key(&me));
        assert!(servers_cpu_secs(&[], &[comm.trim_end().to_owned()]).contains_key(&me));
        assert!(servers_cpu_secs(&[u32::MAX], &["no-such-command".into()]).is_empty());
    }

    #[test]
    fn a_process_started_during_the_run_counts_all_its_time_and_an_ended_one_none() {
        let before = HashMap::from([(1, 10.0), (2, 5.0)]);
        let after = HashMap::from([(1, 12.5), (3, 0.75)]);
        assert_eq!(cpu_secs_between(&before, &after), 3.25);
    }

    #[test]
    fn machine_busy_time_leaves_out_idle_and_iowait() {
        let stat = "cpu  100 10 50 9000 300 5 5 30 0 0\ncpu0 50 5 25 4500 150 2 2 15 0 0\n";
        assert_eq!(busy_secs_of_proc_stat(stat), Some(2.0));
    }
}
