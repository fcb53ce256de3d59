#!/usr/bin/env bash
# Benchmarks the production mode: one mtx-api and N mtx-worker processes (release builds) on
# PostgreSQL + Redis, driven over HTTP by mtx-bench.
#
#   1. Upgrade throughput: for each worker count, subscribe --tenants tenants over two scratch
#      databases (model v1), publish model v2, run one `upgrade ["*"]` and report tenants/s.
#   2. Enqueue latency: for each size in --latency-tenants, an API without workers and that many
#      tenant rows in the control plane; --repeat `upgrade ["*"]` requests, time to 202 (p50/p99).
#
# Usage: bench/distributed.sh [--tenants 300] [--workers "1 2 4"] [--worker-size 8]
#                             [--cluster-size 2] [--slots 4] [--latency-tenants "1000 10000"]
#                             [--repeat 20]
# Environment: MTX_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres),
#              MTX_BENCH_REDIS_URL (default redis://127.0.0.1:6379), MTX_BENCH_POOL_SIZE
#              (connections per pool, default slots + 2), CARGO_TARGET_DIR.
# Needs psql and redis-cli. Everything it creates (databases, Redis keys, processes, temp files)
# is removed on exit; only the processes it started are stopped, by their PIDs.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

TENANTS=300
WORKER_COUNTS="1 2 4"
WORKER_SIZE=8
CLUSTER_SIZE=2
SLOTS=4
LATENCY_TENANTS="1000 10000"
REPEAT=20
while [[ $# -gt 0 ]]; do
  case $1 in
    --tenants) TENANTS=$2; shift 2 ;;
    --workers) WORKER_COUNTS=$2; shift 2 ;;
    --worker-size) WORKER_SIZE=$2; shift 2 ;;
    --cluster-size) CLUSTER_SIZE=$2; shift 2 ;;
    --slots) SLOTS=$2; shift 2 ;;
    --latency-tenants) LATENCY_TENANTS=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "distributed.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

DATABASE_URL=${MTX_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
REDIS_URL=${MTX_BENCH_REDIS_URL:-redis://127.0.0.1:6379}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN=$TARGET_DIR/release
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mtx-bench.XXXXXX")
declare -a PIDS=() DATABASES=() PREFIXES=()

# `url` with its database name replaced.
db_url() { echo "${DATABASE_URL%/*}/$1"; }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_processes
  for db in "${DATABASES[@]}"; do
    psql "$DATABASE_URL" -XAtqc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  done
  for prefix in "${PREFIXES[@]}"; do
    flush_prefix "$prefix"
  done
  rm -rf -- "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stop_processes() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}

flush_prefix() {
  redis-cli -u "$REDIS_URL" --scan --pattern "{$1}*" | xargs -r -n 500 redis-cli -u "$REDIS_URL" DEL >/dev/null
}

# new_database <variable>: creates a scratch database and stores its name in <variable>. Not
# called as $(new_database): a command substitution is a subshell, and the name it appends to
# DATABASES would never reach cleanup, so the database would never be dropped.
new_database() {
  local name
  name="mtx_bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  psql "$DATABASE_URL" -XAtqc "CREATE DATABASE \"$name\"" >/dev/null
  DATABASES+=("$name")
  printf -v "$1" '%s' "$name"
}

free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
  echo "distributed.sh: no free port" >&2; exit 1
}

# start_cluster <workers> <MTX_DATABASES> <model file>: sets API_URL.
start_cluster() {
  local workers=$1 databases=$2 model=$3 prefix
  prefix="bench-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  PREFIXES+=("$prefix")
  local port; port=$(free_port)
  export MTX_HOST=127.0.0.1 PORT=$port MTX_DATABASES=$databases MTX_REDIS_URL=$REDIS_URL \
    MTX_REDIS_PREFIX=$prefix MTX_MODEL=$model MTX_WORKER_SIZE=$WORKER_SIZE \
    MTX_CLUSTER_SIZE=$CLUSTER_SIZE MTX_WORKER_SLOTS=$SLOTS MTX_QUEUE_SIZE=100000 \
    MTX_DB_POOL_SIZE=${MTX_BENCH_POOL_SIZE:-$((SLOTS + 2))} RUST_LOG=warn \
    MTX_AUTH=dummy MTX_AUTH_ALLOW_DUMMY=true
  "$BIN/mtx-api" >>"$TMP/api.log" 2>&1 &
  PIDS+=($!)
  API_URL="http://127.0.0.1:$port"
  for _ in $(seq 1 200); do
    curl -fs "$API_URL/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fs "$API_URL/health" >/dev/null || { cat "$TMP/api.log" >&2; exit 1; }
  for i in $(seq 1 "$workers"); do
    "$BIN/mtx-worker" >>"$TMP/worker$i.log" 2>&1 &
    PIDS+=($!)
  done
}

json_field() { python3 -c "import json,sys; d=json.loads(sys.stdin.read().splitlines()[-1]); print($1)"; }

echo "==== building release binaries"
cargo build --release --bins -p mtx-api -p mtx-worker -p mtx-bench

echo
echo "==== upgrade throughput: $TENANTS tenants on 2 databases, workerSize $WORKER_SIZE, clusterSize $CLUSTER_SIZE, $SLOTS slots per worker"
declare -a RESULTS=()
for workers in $WORKER_COUNTS; do
  new_database db1; new_database db2
  cp models/bookshop/v1/csn.json "$TMP/csn.json"
  start_cluster "$workers" "db1=$(db_url "$db1"),db2=$(db_url "$db2")" "$TMP/csn.json"
  "$BIN/mtx-bench" provision --url "$API_URL" --tenants "$TENANTS" --concurrency 16 >"$TMP/provision.txt"
  cp models/bookshop/v2/csn.json "$TMP/csn.json"
  out=$("$BIN/mtx-bench" enqueue-latency --url "$API_URL" --repeat 1 --json --poll-interval-ms 50)
  echo "$out" | sed '$d'
  rate=$(echo "$out" | json_field 'round(d["upgrades"]["tenants_per_s"], 1)')
  wall=$(echo "$out" | json_field 'round(d["upgrades"]["wall_ms"] / 1000, 2)')
  RESULTS+=("upgrade, $workers worker(s): $rate tenants/s ($TENANTS tenants in $wall s)")
  stop_processes
done

echo
echo "==== enqueue latency of upgrade [\"*\"] (API only, no workers), $REPEAT requests each"
for tenants in $LATENCY_TENANTS; do
  new_database db
  cp models/bookshop/v1/csn.json "$TMP/csn.json"
  start_cluster 0 "db1=$(db_url "$db")" "$TMP/csn.json"
  # Tenant rows straight into the control plane (schema mtx, created by the API at start-up):
  # the request under test reads them, it does not touch tenant schemas.
  psql "$(db_url "$db")" -XAtq -c "
    INSERT INTO mtx.tenants (id, metadata, location, model, created_at, modified_at)
    SELECT 'bench' || lpad(i::text, 6, '0'), '{}',
           json_build_object('kind', 'postgres', 'database', 'db1',
                             'schema', 'bench' || lpad(i::text, 6, '0')),
           NULL, now(), now()
    FROM generate_series(1, $tenants) AS i" >/dev/null
  out=$("$BIN/mtx-bench" enqueue-latency --url "$API_URL" --repeat "$REPEAT" --no-wait --json)
  echo "$out" | sed '$d'
  p50=$(echo "$out" | json_field 'round(d["upgrades"]["enqueue_latency"]["p50_ms"], 1)')
  p99=$(echo "$out" | json_field 'round(d["upgrades"]["enqueue_latency"]["p99_ms"], 1)')
  RESULTS+=("enqueue upgrade [\"*\"] over $tenants tenants: p50 $p50 ms, p99 $p99 ms")
  stop_processes
done

echo
echo "==== summary"
printf '  %s\n' "${RESULTS[@]}"
