#!/usr/bin/env bash
# Side by side on this machine: the chat cluster and the Socket.IO + Redis adapter gateway it
# replaces, with the same topology (two nodes, one broker), the same scenarios and the same
# bench; prints medians of RUNS runs per scenario and system, and their ratios. The chat cluster
# runs twice per scenario: its clients on `/ws` (system `chat`), and on its Socket.IO endpoint
# (`chat-socketio`: the same sessions behind Socket.IO's events, the peer's wire protocol).
# SYSTEMS ["chat chat-socketio socketio"] picks among them.
#
#   bench/compare.sh
#
# Environment (defaults in brackets):
#   RUNS [3] ROOMS [100] MEMBERS [10] DURATION [10] seconds measured after a 2 s warm-up
#   RATES ["0 1000 2000"]   sends/s of each scenario; 0 is flat out
#   BENCH [target/release/chat-bench]   BIN_DIR [target/release] chat-node and chat-persister
#   OUT [/tmp/chat-bench-compare]       logs, results.jsonl and table.md
#   SERVER_CPUS [0-1] BENCH_CPUS [0-1]  taskset CPU lists of the servers and of the bench
#   CHAT_FLAGS [--first-attempt]        more chat-bench flags for the chat runs: its sends say
#                                       `first_attempt`, as the browser client's do (set it
#                                       empty for sends that make the server look each up)
#
# Chat and chat-socketio: bench/cluster.sh (2 nodes on :8080/:8082 + persister; NATS,
# PostgreSQL, Redis).
# Peer: bench/peers/socketio/peer.sh (2 Node.js processes on :3001/:3002; Redis).
#
# Pinning. On 2 cores, everything started here gets both cores (taskset -c 0-1), the same for
# both systems. Splitting the cores (servers on one, the bench on the other) would halve what
# the servers get while the bench needs a fraction of a core, and it would confine both of our
# multi-threaded nodes, or both single-threaded Node.js processes, to one core: that would
# measure the split, not the systems. On a larger machine, give the servers and the bench
# disjoint lists through SERVER_CPUS and BENCH_CPUS. PostgreSQL, NATS and Redis are services
# of the machine that others use too; they are not re-pinned.
#
# What pinning cannot remove is other jobs' load. Each run records it (the bench's "other
# jobs" CPU: machine minus bench minus servers and brokers), and runs are interleaved (chat,
# peer, chat, ...) so that drifting load falls on both systems alike.
#
# Every run starts its system fresh and stops it afterwards. Otherwise one run leaks into the
# next: after a flat-out run our persister is still writing the backlog to PostgreSQL during
# the following runs, and the peer's Redis subscribers, once Redis has dropped them for
# overrunning the Pub/Sub output buffer limit, never deliver across processes again.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-3}
rooms=${ROOMS:-100}
members=${MEMBERS:-10}
duration=${DURATION:-10}
chat_flags=${CHAT_FLAGS---first-attempt}
read -r -a rates <<<"${RATES:-0 1000 2000}"
read -r -a systems <<<"${SYSTEMS:-chat chat-socketio socketio}"
bench=${BENCH:-target/release/chat-bench}
out=${OUT:-/tmp/chat-bench-compare}
server_cpus=${SERVER_CPUS:-0-1}
bench_cpus=${BENCH_CPUS:-0-1}
cluster=benchcmp
chat_nodes=http://127.0.0.1:8080,http://127.0.0.1:8082
peer_nodes=http://127.0.0.1:3001,http://127.0.0.1:3002

mkdir -p "$out"
results="$out/results.jsonl"
: >"$results"

# The system of the current run, and where its logs and pid files go.
system_now=
system_dir=

start_system() { # system dir
  if [ "$1" != socketio ]; then
    RUN_DIR="$2" SERVER_CPUS=$server_cpus bench/cluster.sh start "$cluster" >/dev/null
  else
    RUN_DIR="$2" SERVER_CPUS=$server_cpus bench/peers/socketio/peer.sh start >/dev/null
  fi
}

stop_system() {
  case "$system_now" in
  chat | chat-socketio) RUN_DIR="$system_dir" bench/cluster.sh stop "$cluster" >/dev/null 2>&1 || true ;;
  socketio) RUN_DIR="$system_dir" bench/peers/socketio/peer.sh stop >/dev/null 2>&1 || true ;;
  esac
  system_now=
}
trap stop_system EXIT

# Process ids as one comma-separated list: the servers' pid files, then the brokers by name.
pids_of() { cat "$@" | paste -sd, -; }

run_one() { # system rate run
  local system=$1 rate=$2 run=$3 nodes pids brokers log
  system_dir="$out/$system-rate$rate-run$run"
  system_now=$system
  start_system "$system" "$system_dir"
  pids="$(pids_of "$system_dir"/*.pid)"
  # Brokers by command: the bench also counts the PostgreSQL backends opened during the run.
  local flags=()
  if [ "$system" != socketio ]; then
    nodes=$chat_nodes
    brokers=nats-server,redis-server,postgres
    read -r -a flags <<<"$chat_flags"
  else
    nodes=$peer_nodes
    brokers=redis-server
  fi
  log="$system_dir.log"
  echo "$(date -u +%H:%M:%S) $system rate=$rate run $run" >&2
  taskset -c "$bench_cpus" "$bench" throughput --system "$system" --nodes "$nodes" \
    --rooms "$rooms" --members "$members" --duration "$duration" --rate "$rate" "${flags[@]}" \
    --server-pids "$pids" --server-commands "$brokers" --label "$system rate=$rate run=$run" >"$log" 2>&1 ||
    echo "  run not clean, see $log" >&2
  grep '^RESULT ' "$log" | cut -c8- >>"$results" || echo "  no RESULT line in $log" >&2
  if grep -qs '^redis:' "$system_dir"/peer-*.log; then
    echo "  the peer lost its Redis connection: $(grep -h '^redis:' "$system_dir"/peer-*.log | sort | uniq -c)" >&2
  fi
  # A server that died mid-run explains a short or lossy run (and an unknown version).
  for pidfile in "$system_dir"/*.pid; do
    kill -0 "$(cat "$pidfile")" 2>/dev/null ||
      echo "  $(basename "$pidfile" .pid) exited during the run, see its log in $system_dir" >&2
  done
  stop_system
}

for run in $(seq 1 "$runs"); do
  for rate in "${rates[@]}"; do
    for system in "${systems[@]}"; do
      run_one "$system" "$rate" "$run"
    done
  done
done

# Medians per (scenario, system), then chat ÷ socketio and chat-socketio ÷ socketio. Latency
# medians are the medians of each run's percentile, not a percentile of the pooled samples.
jq -rs -f /dev/stdin "$results" >"$out/table.md" <<'JQ'
def median: sort | if length == 0 then null
  elif length % 2 == 1 then .[length / 2 | floor]
  else (.[length / 2 - 1] + .[length / 2]) / 2 end;
def fmt(d): if . == null then "-" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
def scenario: if .params.rate == 0 then "flat out" else "paced \(.params.rate)/s" end;
def summary:
  { runs: length,
    clean: (map(select(.ok)) | length),
    acks: (map(.results.acks_per_sec) | median),
    deliveries: (map(.results.deliveries_per_sec) | median),
    ack_p50: (map(.results.ack_latency.p50_ms) | median),
    ack_p99: (map(.results.ack_latency.p99_ms) | median),
    del_p50: (map(.results.delivery_latency.p50_ms) | median),
    del_p99: (map(.results.delivery_latency.p99_ms) | median),
    servers: (map(.results.servers_cpu_cores) | median),
    other: (map(.results.other_cpu_cores) | median) };
def ratio(a; b): if a == null or b == null or b == 0 then "-" else "\(a / b | fmt(2))×" end;
. as $all |
(group_by(scenario) | map({ scenario: (.[0] | scenario),
  chat: (map(select(.params.system == "chat")) | summary),
  chat_sio: (map(select(.params.system == "chat-socketio")) | summary),
  peer: (map(select(.params.system == "socketio")) | summary) }) |
"| scenario | system | clean runs | acks/s | deliveries/s | ack p50 / p99 ms | delivery p50 / p99 ms | servers CPU | other CPU |",
"|---|---|---|---|---|---|---|---|---|",
(.[] | . as $s |
  (["chat", $s.chat], ["chat-socketio", $s.chat_sio], ["socketio", $s.peer]) as [$name, $m] |
  select($m.runs > 0) |
  "| \($s.scenario) | \($name) | \($m.clean)/\($m.runs) | \($m.acks | fmt(0)) | \($m.deliveries | fmt(0)) | \($m.ack_p50 | fmt(1)) / \($m.ack_p99 | fmt(1)) | \($m.del_p50 | fmt(1)) / \($m.del_p99 | fmt(1)) | \($m.servers | fmt(2)) | \($m.other | fmt(2)) |"),
(.[] | . as $s | (["chat", $s.chat], ["chat-socketio", $s.chat_sio]) as [$name, $m] |
  select($m.runs > 0 and $s.peer.runs > 0) |
  "| \($s.scenario) | \($name) ÷ socketio | | \(ratio($m.acks; $s.peer.acks)) | \(ratio($m.deliveries; $s.peer.deliveries)) | \(ratio($m.ack_p50; $s.peer.ack_p50)) / \(ratio($m.ack_p99; $s.peer.ack_p99)) | \(ratio($m.del_p50; $s.peer.del_p50)) / \(ratio($m.del_p99; $s.peer.del_p99)) | \(ratio($m.servers; $s.peer.servers)) | |")),
"",
"Machine: \($all[0].machine.cpu_model), \($all[0].machine.cores) cores.",
# What each system ran, from the runs' RESULT lines; runs that differ are all listed.
($all | group_by(.params.system)[] |
  "Versions, \(.[0].params.system): " +
  (map(.versions // {} | to_entries | map("\(.key) \(.value)") | join(", ")) | unique | join(" | ")))
JQ
cat "$out/table.md"
echo "CPU columns are in cores (of $(nproc)); logs and results.jsonl in $out" >&2
