#!/usr/bin/env bash
# Runs the package's tests against a real two-node cluster started from built binaries (the
# browser tests' tests/browser/lib/cluster.sh), and removes everything it made on exit.
#
# usage: clients/js/test/run.sh [binary folder, default target/debug] [test file...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
package="$(cd "$here/.." && pwd)"
root="$(cd "$package/../.." && pwd)"
bin="${1:-target/debug}"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
shift || true
[ "$#" -gt 0 ] || set -- "$here"/*.test.mjs
for binary in chat-node chat-persister; do
  [ -x "$bin/$binary" ] || { echo "missing $bin/$binary (build it: cargo build -p chat-node -p chat-persister)" >&2; exit 1; }
done

[ -d "$package/node_modules/typescript" ] || (cd "$package" && npm ci --no-audit --no-fund)
(cd "$package" && npm run --silent build)

# shellcheck source=../../../tests/browser/lib/cluster.sh
source "$root/tests/browser/lib/cluster.sh"
cluster_logs="$(mktemp -d "${TMPDIR:-/tmp}/chat-client-tests.XXXXXX")"
cluster_stop_on_exit

# Access tokens short enough that the renewal test outlives a few of them.
token_ttl=5
cluster_start "$bin" client --presence-grace 1s --argon2-memory-kib 1024 --argon2-iterations 1 \
  --login-limit-per-ip off --login-limit-per-username off --register-limit-per-ip off \
  --refresh-limit-per-ip off --write-limit-per-user off --rest-send-limit-per-user off \
  --access-token-ttl "${token_ttl}s"

# Node has a global WebSocket from 22 on; 20 has it behind a flag.
node_flags=()
node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' || node_flags+=(--experimental-websocket)
NODE_A_URL="$cluster_node_a" NODE_B_URL="$cluster_node_b" ACCESS_TOKEN_TTL_SECONDS="$token_ttl" \
  node "${node_flags[@]}" --test "$@"
