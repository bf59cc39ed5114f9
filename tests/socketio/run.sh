#!/usr/bin/env bash
# Runs the Socket.IO tests (the official socket.io-client) against built binaries, and removes
# everything it made on exit.
#
# Cluster (the default): two chat-node processes and a chat-persister against the local
# PostgreSQL, Redis and NATS (tests/browser/lib/cluster.sh); clients connect to both nodes with
# the WebSocket transport, as behind a load balancer without sticky sessions.
# Embedded (--embedded): one chat-node with no service URLs, on a fresh temporary data folder.
#
# usage: tests/socketio/run.sh [--embedded] [binary folder, default target/debug] [test file...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
mode=cluster
bin=""
only=()
for arg in "$@"; do
  case "$arg" in
    --embedded) mode=embedded ;;
    *) if [ -z "$bin" ]; then bin="$arg"; else only+=("$arg"); fi ;;
  esac
done
bin="${bin:-target/debug}"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
[ "${#only[@]}" -gt 0 ] || only=("$here"/test/*.test.mjs)
binaries=(chat-node)
[ "$mode" = cluster ] && binaries+=(chat-persister)
for binary in "${binaries[@]}"; do
  [ -x "$bin/$binary" ] || { echo "missing $bin/$binary (build it: cargo build -p chat-node -p chat-persister)" >&2; exit 1; }
done
[ -d "$here/node_modules/socket.io-client" ] || (cd "$here" && npm ci --no-audit --no-fund)

# shellcheck source=../browser/lib/cluster.sh
source "$root/tests/browser/lib/cluster.sh"
cluster_logs="$(mktemp -d "${TMPDIR:-/tmp}/chat-socketio-tests.XXXXXX")"
data_root=""
cleanup() {
  local status=$?
  cluster_stop
  [ -n "$data_root" ] && rm -rf "$data_root"
  if [ "$status" = 0 ]; then rm -rf "$cluster_logs"; else echo "node logs: $cluster_logs" >&2; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The tests register far more often than any client should, all from one address.
flags=(--presence-grace 1s --argon2-memory-kib 1024 --argon2-iterations 1
  --login-limit-per-ip off --login-limit-per-username off --register-limit-per-ip off
  --refresh-limit-per-ip off --write-limit-per-user off --rest-send-limit-per-user off)
if [ "$mode" = cluster ]; then
  cluster_start "$bin" socketio "${flags[@]}"
  node_a="$cluster_node_a"
  node_b="$cluster_node_b"
else
  data_root="$(mktemp -d "${TMPDIR:-/tmp}/chat-socketio.XXXXXX")"
  read -r port < <(node "$root/tests/browser/lib/free-ports.mjs" 1)
  spawn node-embedded env -u NATS_URL -u DATABASE_URL -u REDIS_URL -u JWT_SECRET "$bin/chat-node" \
    "${flags[@]}" --data-dir "$data_root/node" --listen "127.0.0.1:$port" --node-id socketio-embedded
  wait_healthy "$port"
  echo "== embedded node up: :$port"
  node_a="http://127.0.0.1:$port"
  node_b="$node_a"
fi

# Node has a global WebSocket (for the /ws client beside Socket.IO) from 22 on; 20 has it
# behind a flag.
node_flags=()
node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' || node_flags+=(--experimental-websocket)
CHAT_MODE="$mode" NODE_A_URL="$node_a" NODE_B_URL="$node_b" \
  node "${node_flags[@]}" --test --test-concurrency=1 "${only[@]}"
