#!/usr/bin/env bash
# Starts a two-node cluster (chat-node ×2, chat-persister) from built binaries against the local
# PostgreSQL, Redis and NATS, with a database, key prefix and stream of its own, runs the browser
# tests against it, and removes all of it on exit, whether the tests passed or not.
#
# usage: tests/browser/run.sh [binary folder, default target/debug]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${1:-target/debug}"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
artifacts="$here/artifacts"
mkdir -p "$artifacts"

for binary in chat-node chat-persister; do
  [ -x "$bin/$binary" ] || { echo "missing $bin/$binary (build it: cargo build -p chat-node -p chat-persister)" >&2; exit 1; }
done
if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
fi
[ -d "$here/node_modules/playwright-core" ] || (cd "$here" && npm ci --no-audit --no-fund)

suffix="$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
database="chat_browser_$suffix"
prefix="browser$suffix"
admin_url="${CHAT_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
base_url="${admin_url%/*}"
nats_url="${NATS_URL:-nats://127.0.0.1:4222}"
redis_url="${REDIS_URL:-redis://127.0.0.1:6379}"
pids=()
tests_pid=""

cleanup() {
  local status=$?
  # The test runner has a process group of its own (its per-file workers, and Playwright
  # closes Chromium on SIGTERM).
  [ -n "$tests_pid" ] && { kill -TERM -- "-$tests_pid" 2>/dev/null || true; wait "$tests_pid" 2>/dev/null || true; }
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql -q "$admin_url" -c "drop database if exists $database with (force)" >/dev/null 2>&1 || true
  redis-cli -u "$redis_url" --scan --pattern "$prefix:*" 2>/dev/null | xargs -r redis-cli -u "$redis_url" del >/dev/null 2>&1 || true
  node "$here/lib/delete-stream.mjs" "$nats_url" "${prefix}_messages" 2>/dev/null || true
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql -q "$admin_url" -c "create database $database" >/dev/null
read -r port_a port_b port_p < <(node "$here/lib/free-ports.mjs" 3)
token_ttl="${ACCESS_TOKEN_TTL_SECONDS:-12}"
secret="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"

common=(--nats-url "$nats_url" --database-url "$base_url/$database" --stream-prefix "$prefix")
node_flags=("${common[@]}" --redis-url "$redis_url" --redis-prefix "$prefix" --jwt-secret "$secret"
  --presence-grace 1s --argon2-memory-kib 1024 --argon2-iterations 1
  # Short-lived access tokens, so the tests see the page renew them.
  --access-token-ttl "${token_ttl}s")

start() { # log name, command...
  local log="$artifacts/$1.log"
  shift
  RUST_LOG="${RUST_LOG:-warn}" "$@" >"$log" 2>&1 &
  pids+=($!)
}

wait_healthy() { # port
  for _ in $(seq 1 200); do
    curl -fsS "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "nothing healthy on port $1; see $artifacts/*.log" >&2
  return 1
}

# The first node applies the migrations; the second starts once they are in place.
start node-a "$bin/chat-node" "${node_flags[@]}" --listen "127.0.0.1:$port_a" --node-id browser-a
wait_healthy "$port_a"
start node-b "$bin/chat-node" "${node_flags[@]}" --listen "127.0.0.1:$port_b" --node-id browser-b
start persister "$bin/chat-persister" "${common[@]}" --listen "127.0.0.1:$port_p"
wait_healthy "$port_b"
wait_healthy "$port_p"
echo "== cluster up: node A :$port_a, node B :$port_b, persister :$port_p, database $database"

cd "$here"
# In the background, so a signal to this script runs the clean-up at once.
NODE_A_URL="http://127.0.0.1:$port_a" NODE_B_URL="http://127.0.0.1:$port_b" ARTIFACTS="$artifacts" \
  ACCESS_TOKEN_TTL_SECONDS="$token_ttl" setsid node --test --test-concurrency=1 tests/ &
tests_pid=$!
wait "$tests_pid"
