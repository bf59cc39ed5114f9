# A chat cluster from built binaries for test runs: two chat-node processes and a
# chat-persister against the local PostgreSQL, Redis and NATS, with a database, Redis key prefix
# and stream of their own, all removed again by cluster_stop. Sourced by tests/browser/run.sh
# and clients/js/test/run.sh.
#
#   cluster_logs=DIR            where each process logs (NAME.log)
#   spawn NAME command...       a process of the run, stopped by cluster_stop
#   wait_healthy PORT
#   cluster_start BIN NAME [node flags...]
#                               the cluster, named NAME in its database, prefix and node ids;
#                               sets cluster_node_a and cluster_node_b (their http:// URLs)
#   cluster_stop                stops every process spawned, drops what cluster_start made
#   cluster_stop_on_exit        cluster_stop when the script ends, however it ends; keeps
#                               cluster_logs only when it failed

cluster_lib="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cluster_logs="${cluster_logs:-.}"
cluster_pids=()
cluster_database=""
cluster_prefix=""
cluster_admin_url="${CHAT_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
cluster_nats_url="${NATS_URL:-nats://127.0.0.1:4222}"
cluster_redis_url="${REDIS_URL:-redis://127.0.0.1:6379}"

spawn() { # name, command...
  local log="$cluster_logs/$1.log"
  shift
  RUST_LOG="${RUST_LOG:-warn}" "$@" >"$log" 2>&1 &
  cluster_pids+=($!)
}

wait_healthy() { # port
  for _ in $(seq 1 200); do
    curl -fsS "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "nothing healthy on port $1; see $cluster_logs/*.log" >&2
  return 1
}

cluster_start() { # binary folder, name, node flags...
  local bin="$1" name="$2"
  shift 2
  local suffix port_a port_b port_p secret
  suffix="$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  cluster_prefix="$name$suffix"
  psql -q "$cluster_admin_url" -c "create database chat_${name}_$suffix" >/dev/null
  cluster_database="chat_${name}_$suffix"
  read -r port_a port_b port_p < <(node "$cluster_lib/free-ports.mjs" 3)
  secret="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"

  local common=(--nats-url "$cluster_nats_url" --database-url "${cluster_admin_url%/*}/$cluster_database"
    --stream-prefix "$cluster_prefix")
  local node_flags=("${common[@]}" --redis-url "$cluster_redis_url" --redis-prefix "$cluster_prefix"
    --jwt-secret "$secret" "$@")

  # The first node applies the migrations; the second starts once they are in place.
  spawn node-a "$bin/chat-node" "${node_flags[@]}" --listen "127.0.0.1:$port_a" --node-id "$name-a"
  wait_healthy "$port_a"
  spawn node-b "$bin/chat-node" "${node_flags[@]}" --listen "127.0.0.1:$port_b" --node-id "$name-b"
  spawn persister "$bin/chat-persister" "${common[@]}" --listen "127.0.0.1:$port_p"
  wait_healthy "$port_b"
  wait_healthy "$port_p"
  echo "== cluster up: node A :$port_a, node B :$port_b, persister :$port_p, database $cluster_database"
  cluster_node_a="http://127.0.0.1:$port_a"
  cluster_node_b="http://127.0.0.1:$port_b"
}

cluster_stop() {
  local pid
  for pid in "${cluster_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${cluster_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  cluster_pids=()
  if [ -n "$cluster_database" ]; then
    psql -q "$cluster_admin_url" -c "drop database if exists $cluster_database with (force)" >/dev/null 2>&1 || true
    cluster_database=""
  fi
  if [ -n "$cluster_prefix" ]; then
    redis-cli -u "$cluster_redis_url" --scan --pattern "$cluster_prefix:*" 2>/dev/null |
      xargs -r redis-cli -u "$cluster_redis_url" del >/dev/null 2>&1 || true
    node "$cluster_lib/delete-stream.mjs" "$cluster_nats_url" "${cluster_prefix}_messages" 2>/dev/null || true
    cluster_prefix=""
  fi
}

cluster_stop_on_exit() {
  trap cluster_exit EXIT
  trap 'exit 130' INT TERM
}

cluster_exit() {
  local status=$?
  cluster_stop
  if [ "$status" = 0 ]; then rm -rf "$cluster_logs"; else echo "node logs: $cluster_logs" >&2; fi
  exit "$status"
}
