#!/usr/bin/env bash
# Starts or stops the Socket.IO peer for chat-bench, on this machine only:
#   bench/peers/socketio/peer.sh start   two Node.js processes on 127.0.0.1:3001 and :3002
#   bench/peers/socketio/peer.sh stop    kills what start started
# Both share Redis 127.0.0.1:6379 through the Redis adapter, on channels prefixed bench-sio.
# Installs the locked dependencies with `npm ci` when node_modules is missing. Logs and pid
# files go to $RUN_DIR (default /tmp/chat-bench-socketio). SERVER_CPUS (e.g. 0-1) pins the
# processes with taskset.
set -euo pipefail

cmd=${1:?usage: peer.sh start|stop}
here=$(cd "$(dirname "$0")" && pwd)
run=${RUN_DIR:-/tmp/chat-bench-socketio}
ports=(3001 3002)
pin=()
if [ -n "${SERVER_CPUS:-}" ]; then pin=(taskset -c "$SERVER_CPUS"); fi

wait_ready() { # url
  for _ in $(seq 1 100); do
    curl -fsS "$1" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "not ready: $1" >&2
  return 1
}

case "$cmd" in
start)
  mkdir -p "$run"
  [ -d "$here/node_modules" ] || (cd "$here" && npm ci --no-audit --no-fund >"$run/npm-ci.log" 2>&1)
  for port in "${ports[@]}"; do
    PORT=$port REDIS_URL=redis://127.0.0.1:6379 CHANNEL_PREFIX=bench-sio NODE_ENV=production \
      "${pin[@]}" node "$here/server.js" >"$run/peer-$port.log" 2>&1 &
    echo $! >"$run/peer-$port.pid"
    wait_ready "http://127.0.0.1:$port/readyz"
  done
  echo "socket.io peer up: 127.0.0.1:3001, 127.0.0.1:3002; logs in $run"
  ;;
stop)
  for pidfile in "$run"/peer-*.pid; do
    [ -e "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  echo "socket.io peer stopped"
  ;;
*)
  echo "usage: peer.sh start|stop" >&2
  exit 2
  ;;
esac
