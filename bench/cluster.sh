#!/usr/bin/env bash
# Starts or stops a two-node cluster with one persister for chat-bench, on this machine only:
#   bench/cluster.sh start [NAME]   database NAME, stream prefix NAME (default benchx)
#   bench/cluster.sh stop  [NAME]   kills what start started, drops the database and the stream
# Nodes listen on 127.0.0.1:8080 and :8082 with --send-rate 0 and the REST abuse limits off (the
# load registers and sends from one address); the persister on :8081.
# BIN_DIR (default target/release) holds chat-node and chat-persister; logs go to $RUN_DIR
# (default /tmp/chat-bench-NAME). SERVER_CPUS (e.g. 0-1) pins the started processes with
# taskset. Needs PostgreSQL 5432, Redis 6379 and NATS 4222 running.
set -euo pipefail

cmd=${1:?usage: cluster.sh start|stop [NAME]}
name=${2:-benchx}
bin=${BIN_DIR:-target/release}
run=${RUN_DIR:-/tmp/chat-bench-$name}
db="postgres://postgres@127.0.0.1:5432/$name"
nats="nats://127.0.0.1:4222"
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

# Deletes the JetStream stream with a bare NATS protocol exchange (no CLI needed): the API
# request is published without a reply subject, and PING/PONG confirms the server read it.
delete_stream() {
  exec 3<>/dev/tcp/127.0.0.1/4222
  printf 'CONNECT {"verbose":false}\r\nPUB $JS.API.STREAM.DELETE.%s 0\r\n\r\nPING\r\n' "$1" >&3
  timeout 5 grep -m1 -q PONG <&3 || true
  exec 3>&-
}

case "$cmd" in
start)
  mkdir -p "$run"
  psql -h 127.0.0.1 -U postgres -qc "create database $name" >/dev/null
  secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  for port in 8080 8082; do
    "${pin[@]}" "$bin/chat-node" --listen "127.0.0.1:$port" --node-id "node-$port" --nats-url "$nats" \
      --database-url "$db" --redis-url redis://127.0.0.1:6379 --jwt-secret "$secret" \
      --stream-prefix "$name" --send-rate 0 --register-limit-per-ip off --login-limit-per-ip off \
      --rest-send-limit-per-user off --write-limit-per-user off >"$run/node-$port.log" 2>&1 &
    echo $! >"$run/node-$port.pid"
    # The first node applies the migrations; the second starts once they are in.
    wait_ready "http://127.0.0.1:$port/readyz"
  done
  "${pin[@]}" "$bin/chat-persister" --listen 127.0.0.1:8081 --nats-url "$nats" --database-url "$db" \
    --stream-prefix "$name" >"$run/persister.log" 2>&1 &
  echo $! >"$run/persister.pid"
  wait_ready http://127.0.0.1:8081/readyz
  echo "cluster $name up: nodes 127.0.0.1:8080, 127.0.0.1:8082, persister 127.0.0.1:8081; logs in $run"
  ;;
stop)
  for pidfile in "$run"/*.pid; do
    [ -e "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  psql -h 127.0.0.1 -U postgres -qc "drop database if exists $name with (force)" >/dev/null
  delete_stream "${name}_messages"
  echo "cluster $name stopped; database and stream ${name}_messages dropped"
  ;;
*)
  echo "usage: cluster.sh start|stop [NAME]" >&2
  exit 2
  ;;
esac
