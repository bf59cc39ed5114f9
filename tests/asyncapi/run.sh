#!/usr/bin/env bash
# Checks docs/asyncapi.yaml against a live node: starts one embedded chat-node on a free port and
# a fresh data folder, runs check.mjs against it, and stops the node and removes the folder,
# whether the check passed or not.
#
# usage: tests/asyncapi/run.sh [binary folder, default target/debug]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${1:-target/debug}"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
[ -x "$bin/chat-node" ] || { echo "missing $bin/chat-node (build it: cargo build -p chat-node)" >&2; exit 1; }
[ -d "$here/node_modules/@asyncapi/parser" ] || (cd "$here" && npm ci --no-audit --no-fund)

work="$(mktemp -d "${TMPDIR:-/tmp}/chat-asyncapi.XXXXXX")"
node_pid=""
cleanup() {
  local status=$?
  if [ -n "$node_pid" ]; then
    kill -TERM "$node_pid" 2>/dev/null || true
    wait "$node_pid" 2>/dev/null || true
  fi
  if [ "$status" = 0 ]; then rm -rf "$work"; else echo "node log: $work/node.log" >&2; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port="$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')"
# Embedded (no service URLs, none inherited either); the scenario registers, logs in and changes
# rooms far faster than the abuse limits allow, and waits for presence to go offline.
env -u NATS_URL -u DATABASE_URL -u REDIS_URL -u JWT_SECRET RUST_LOG="${RUST_LOG:-warn}" \
  "$bin/chat-node" --listen "127.0.0.1:$port" --data-dir "$work/data" --node-id asyncapi \
  --presence-grace 1s --argon2-memory-kib 1024 --argon2-iterations 1 \
  --login-limit-per-ip off --login-limit-per-username off --register-limit-per-ip off \
  --refresh-limit-per-ip off --write-limit-per-user off --rest-send-limit-per-user off \
  >"$work/node.log" 2>&1 &
node_pid=$!
for _ in $(seq 1 200); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$node_pid" 2>/dev/null || { echo "chat-node exited; see $work/node.log" >&2; exit 1; }
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || { echo "chat-node is not healthy on :$port" >&2; exit 1; }

node "$here/check.mjs" "http://127.0.0.1:$port"
