#!/usr/bin/env bash
# Checks the monitoring material against itself and against a live node:
#   - the alert rules parse and their unit tests pass (promtool);
#   - the Prometheus configurations of deploy/local and deploy/docker load (promtool);
#   - the Grafana dashboard is valid JSON;
#   - every metric named in the dashboard and the rules is described in docs/metrics.md;
#   - a chat-node started here (and a chat-persister, if one is beside it) serves /metrics that
#     `promtool check metrics` accepts, and that names only metrics docs/metrics.md describes.
#
#   deploy/check-monitoring.sh [path/to/chat-node]     (default target/debug/chat-node)
#
# Needs PostgreSQL on 127.0.0.1:5432, Redis on 6379 and NATS JetStream on 4222 (as the tests
# do). Installs promtool (Debian package prometheus) if missing. Exits non-zero on any failure
# and stops whatever it started.
set -euo pipefail
cd "$(dirname "$0")/.."

node_bin=${1:-target/debug/chat-node}
persister_bin=$(dirname "$node_bin")/chat-persister
# A database, stream and Redis prefix of its own; the stream keeps little (--stream-max-age).
name=chat_monitoring_check
pg=postgres://postgres@127.0.0.1:5432
export PGOPTIONS='-c client_min_messages=warning'
work=$(mktemp -d)
pids=()

log() { printf '== %s\n' "$*"; }
fail() { printf 'check-monitoring: FAILED: %s\n' "$*" >&2; exit 1; }

cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  psql "$pg/postgres" -Xqc "drop database if exists $name with (force)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

if ! command -v promtool >/dev/null; then
  log "installing promtool (Debian package prometheus)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
if [[ ! -x $node_bin && $node_bin == target/debug/chat-node ]]; then
  # `cargo test --workspace` builds the test package's copies (chat-node-under-test), not
  # these; with the test build done, this is mostly linking.
  log "building chat-node and chat-persister (debug)"
  cargo build --locked -p chat-node -p chat-persister
fi
[[ -x $node_bin ]] || fail "$node_bin not found (build it: cargo build -p chat-node -p chat-persister)"

log "alert rules"
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts.test.yml

log "Prometheus configurations"
# deploy/local: rendered the way deploy/local/cluster renders it, with empty target lists.
mkdir -p "$work/run/prometheus/targets"
for f in chat-node chat-persister readyz; do echo '[]' >"$work/run/prometheus/targets/$f.json"; done
sed -e "s|@DEPLOY@|$PWD/deploy|g" -e "s|@RUN@|$work/run|g" -e "s|@BLACKBOX@|127.0.0.1:19115|g" \
  -e "s|@PROMETHEUS@|127.0.0.1:19090|g" deploy/local/prometheus.yml.in >"$work/local-prometheus.yml"
promtool check config "$work/local-prometheus.yml"
# deploy/docker: the container mounts both files into /etc/prometheus/.
mkdir -p "$work/docker"
cp deploy/docker/prometheus.yml deploy/prometheus/alerts.yml "$work/docker/"
promtool check config "$work/docker/prometheus.yml"

log "dashboard"
python3 -m json.tool deploy/grafana/chat-cluster.json >/dev/null
echo "deploy/grafana/chat-cluster.json is valid JSON"

log "metric names in the dashboard and the rules"
python3 deploy/metric-names.py check-referenced docs/metrics.md \
  deploy/grafana/chat-cluster.json deploy/prometheus/alerts.yml

log "live /metrics of $node_bin"
psql "$pg/postgres" -Xqc "drop database if exists $name with (force)" -c "create database $name" >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
node_port=$(free_port)
export NATS_URL=nats://127.0.0.1:4222 DATABASE_URL=$pg/$name CHAT_STREAM_PREFIX=chkmon \
  CHAT_STREAM_MAX_AGE=10m
REDIS_URL=redis://127.0.0.1:6379 CHAT_REDIS_PREFIX=chkmon JWT_SECRET=$(openssl rand -hex 32) \
  "$node_bin" --listen "127.0.0.1:$node_port" --node-id chkmon-node >"$work/node.log" 2>&1 &
pids+=($!)

wait_ready() { # url log
  for _ in $(seq 150); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true) == 200 ]] && return 0
    sleep 0.2
  done
  tail -n 30 "$2" >&2
  fail "$1 not ready within 30 s"
}
wait_ready "http://127.0.0.1:$node_port/readyz" "$work/node.log"

persister_port=
if [[ -x $persister_bin ]]; then
  persister_port=$(free_port)
  CHAT_PERSISTER_CONSUMER=chkmon "$persister_bin" --listen "127.0.0.1:$persister_port" \
    >"$work/persister.log" 2>&1 &
  pids+=($!)
  wait_ready "http://127.0.0.1:$persister_port/readyz" "$work/persister.log"
  # The persister installs its metrics recorder at the first scrape and counts nothing before
  # it; scrape once now so the traffic below is counted.
  curl -s -o /dev/null "http://127.0.0.1:$persister_port/metrics"
fi

# Some traffic, so counters and histograms have series: REST, an error, and a WebSocket send.
entry=http://127.0.0.1:$node_port
deploy/local/smoke "$entry"
curl -s -o /dev/null "$entry/no-such-route"
curl -s -o /dev/null "$entry/readyz"
sleep 1

check_live() { # label url
  curl -sf "$2" >"$work/$1.metrics" || fail "GET $2"
  echo "$1: $(grep -c -v '^#' "$work/$1.metrics") samples, $(python3 deploy/metric-names.py names "$work/$1.metrics" | wc -l) metrics"
  # Every metric must come with HELP text and pass promtool's lint.
  promtool check metrics <"$work/$1.metrics" >"$work/$1.lint" 2>&1 || {
    cat "$work/$1.lint" >&2
    fail "promtool check metrics on $1"
  }
  echo "promtool check metrics: no problem"
  python3 deploy/metric-names.py check-live docs/metrics.md "$work/$1.metrics"
}
check_live chat-node "$entry/metrics"
if [[ -n $persister_port ]]; then
  # The lag gauge is reported every 5 s; wait for the first report.
  for _ in $(seq 40); do
    curl -s "http://127.0.0.1:$persister_port/metrics" | grep -q '^chat_persister_rows_total' && break
    sleep 0.5
  done
  check_live chat-persister "http://127.0.0.1:$persister_port/metrics"
fi
log "monitoring checks passed"
