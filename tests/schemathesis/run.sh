#!/usr/bin/env bash
# Schemathesis against a real two-node cluster: every operation of the served /openapi.json,
# authenticated as an administrator (user routes) and with an API key of every scope (server
# routes), with every check. Passes only with no failure at all: no server error, no response
# outside the schema, no schema-valid request refused. Settings: schemathesis.toml beside this.
#
# usage: tests/schemathesis/run.sh [binary folder, default target/debug]
# Installs schemathesis (requirements.txt) into target/schemathesis-venv when it is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${1:-target/debug}"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
for binary in chat-node chat-persister; do
  [ -x "$bin/$binary" ] || { echo "missing $bin/$binary (build it: cargo build -p chat-node -p chat-persister)" >&2; exit 1; }
done

venv="$root/target/schemathesis-venv"
if ! "$venv/bin/st" --version 2>/dev/null | grep -qF "$(sed -n 's/^schemathesis==//p' "$here/requirements.txt")"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi

# shellcheck source=../browser/lib/cluster.sh
source "$root/tests/browser/lib/cluster.sh"
cluster_logs="$(mktemp -d "${TMPDIR:-/tmp}/chat-schemathesis.XXXXXX")"
cluster_stop_on_exit

# Abuse limits off: thousands of generated requests from one address and one user are the
# point here, and the limits have tests of their own.
# Webhooks only to 127.0.0.1: the generated URLs must not make the nodes call anywhere else.
cluster_start "$bin" schema --argon2-memory-kib 1024 --argon2-iterations 1 \
  --login-limit-per-ip off --login-limit-per-username off --register-limit-per-ip off \
  --refresh-limit-per-ip off --write-limit-per-user off --rest-send-limit-per-user off \
  --search-limit-per-user off --webhook-hosts 127.0.0.1

json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# The administrator: registered, then made one from the command line, as a deployment does.
password="schemathesis-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
curl -fsS -X POST "$cluster_node_a/auth/register" -H 'content-type: application/json' \
  -d "{\"username\":\"stadmin\",\"password\":\"$password\"}" >/dev/null
"$bin/chat-node" --database-url "${cluster_admin_url%/*}/$cluster_database" --nats-url "$cluster_nats_url" \
  --redis-url "$cluster_redis_url" --redis-prefix "$cluster_prefix" --stream-prefix "$cluster_prefix" admin grant stadmin
user_token="$(curl -fsS -X POST "$cluster_node_a/auth/login" -H 'content-type: application/json' \
  -d "{\"username\":\"stadmin\",\"password\":\"$password\"}" | json_field access_token)"
api_key="$(curl -fsS -X POST "$cluster_node_a/admin/api-keys" -H 'content-type: application/json' \
  -H "authorization: Bearer $user_token" \
  -d '{"name":"schemathesis","scopes":["messages:publish","rooms:write","users:read"]}' | json_field secret)"

cd "$here"
CHAT_USER_TOKEN="$user_token" CHAT_API_KEY="$api_key" \
  "$venv/bin/st" run "$cluster_node_a/openapi.json" --url "$cluster_node_a" --checks all
