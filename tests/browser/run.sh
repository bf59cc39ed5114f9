#!/usr/bin/env bash
# Runs the browser tests against built binaries, and removes everything it made on exit, whether
# the tests passed or not.
#
# Cluster (the default): two chat-node processes and a chat-persister against the local
# PostgreSQL, Redis and NATS, with a database, key prefix and stream of their own; each browser
# context signs in on a different node.
#
# Embedded (--embedded): one chat-node with no service URLs, on a fresh temporary data folder;
# every browser context is on that one node, and the restart tests stop and start embedded nodes
# on their own data folders.
#
# usage: tests/browser/run.sh [--embedded] [binary folder, default target/debug] [test file...]
# (--embedded may come anywhere; test files are relative to tests/browser, e.g.
# tests/live-rooms.test.mjs; default: all of tests/)
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
[ "${#only[@]}" -gt 0 ] || only=(tests/)
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
artifacts="$here/artifacts"
mkdir -p "$artifacts"

binaries=(chat-node)
[ "$mode" = cluster ] && binaries+=(chat-persister)
for binary in "${binaries[@]}"; do
  [ -x "$bin/$binary" ] || { echo "missing $bin/$binary (build it: cargo build -p chat-node -p chat-persister)" >&2; exit 1; }
done
packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium chromium-driver)
# Reactions are emojis: without a font for them the screenshots show empty boxes.
[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || packages+=(fonts-noto-color-emoji)
if [ "${#packages[@]}" -gt 0 ]; then
  echo "== installing ${packages[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"
fi
[ -d "$here/node_modules/playwright-core" ] || (cd "$here" && npm ci --no-audit --no-fund)

token_ttl="${ACCESS_TOKEN_TTL_SECONDS:-12}"
# The settings both modes share.
shared_flags=(--presence-grace 1s --argon2-memory-kib 1024 --argon2-iterations 1
  # The suites register and log in far more often than any client should, all from one address.
  --login-limit-per-ip off --login-limit-per-username off --register-limit-per-ip off
  --refresh-limit-per-ip off --write-limit-per-user off --rest-send-limit-per-user off
  --search-limit-per-user off
  # Short-lived access tokens, so the tests see the page renew them.
  --access-token-ttl "${token_ttl}s")
tests_pid=""
data_root=""

# shellcheck source=lib/cluster.sh
source "$here/lib/cluster.sh"
cluster_logs="$artifacts"

cleanup() {
  local status=$?
  # The test runner has a process group of its own (its per-file workers, the nodes the restart
  # tests start, and Playwright closes Chromium on SIGTERM).
  if [ -n "$tests_pid" ]; then
    kill -TERM -- "-$tests_pid" 2>/dev/null || true
    wait "$tests_pid" 2>/dev/null || true
    # Let whatever was left in the group finish shutting down before its data folders go.
    for _ in $(seq 1 50); do kill -0 -- "-$tests_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  cluster_stop
  [ -n "$data_root" ] && rm -rf "$data_root"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$mode" = cluster ]; then
  cluster_start "$bin" browser "${shared_flags[@]}"
  node_a="$cluster_node_a"
  node_b="$cluster_node_b"
else
  # No service URLs (none inherited either), and no JWT_SECRET: the node makes its key in the
  # data folder, as it does for anyone who runs it plainly.
  embedded_env=(env -u NATS_URL -u DATABASE_URL -u REDIS_URL -u JWT_SECRET)
  data_root="$(mktemp -d "${TMPDIR:-/tmp}/chat-browser.XXXXXX")"
  read -r port < <(node "$here/lib/free-ports.mjs" 1)
  spawn node-embedded "${embedded_env[@]}" "$bin/chat-node" "${shared_flags[@]}" \
    --data-dir "$data_root/node" --listen "127.0.0.1:$port" --node-id browser-embedded
  wait_healthy "$port"
  echo "== embedded node up: :$port, data folder $data_root/node"
  node_a="http://127.0.0.1:$port"
  node_b="$node_a"
  # What the restart tests need to start embedded nodes of their own, configured alike.
  export EMBEDDED_NODE_BIN="$bin/chat-node"
  export EMBEDDED_NODE_FLAGS="${shared_flags[*]}"
  export EMBEDDED_DATA_ROOT="$data_root"
  unset NATS_URL DATABASE_URL REDIS_URL JWT_SECRET
fi

cd "$here"
# In the background, so a signal to this script runs the clean-up at once.
CHAT_MODE="$mode" NODE_A_URL="$node_a" NODE_B_URL="$node_b" ARTIFACTS="$artifacts" \
  ACCESS_TOKEN_TTL_SECONDS="$token_ttl" setsid node --test --test-concurrency=1 "${only[@]}" &
tests_pid=$!
wait "$tests_pid"
