#!/usr/bin/env bash
# Schema-evolution benchmark: `upgrade ["*"]` bookshop v1 → v2 for N PostgreSQL tenants through
# the sidecar, against a plain psql baseline running the same DDL for N schemas with the same
# parallelism, and the time of an upgrade of N tenants already at the target.
#
# Usage: bench/evolve.sh            (from the repository root; see bench/README.md)
# Environment:
#   BENCH_DATABASE_URL  PostgreSQL server (default postgres://postgres@127.0.0.1:5432/postgres);
#                       a database mtx_bench_evolve_<pid> is created there and dropped afterwards
#   BENCH_TENANTS       number of tenants (default 1000)
#   BENCH_WORKERS       workerSize of the sidecar = number of psql processes (default 4)
#   BENCH_ROWS          rows inserted into each tenant's Books before the upgrade (default 0)
#   BENCH_PORT          port of the sidecar (default 4711)
#   CARGO_TARGET_DIR    where the release build of mtx-api is (default target)
set -euo pipefail

ADMIN_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
TENANTS=${BENCH_TENANTS:-1000}
WORKERS=${BENCH_WORKERS:-4}
ROWS=${BENCH_ROWS:-0}
PORT=${BENCH_PORT:-4711}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BASE="http://127.0.0.1:$PORT"
DB="mtx_bench_evolve_$$"
DB_URL="${ADMIN_URL%/*}/$DB"
WORK=$(mktemp -d)
SIDECAR_PID=

cleanup() {
  if [[ -n "$SIDECAR_PID" ]]; then kill "$SIDECAR_PID" 2>/dev/null || true; wait "$SIDECAR_PID" 2>/dev/null || true; fi
  psql -X -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
# CPU seconds (user + system) the process has used so far.
cpu_secs() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }
# CPU seconds the whole machine has been busy so far (PostgreSQL's backends included).
machine_cpu_secs() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / { print ($2 + $3 + $4 + $7 + $8) / hz }' /proc/stat; }
elapsed() { echo "$2 - $1" | bc -l; }
log() { echo "[evolve-bench] $*" >&2; }
# Each timed phase starts right after a checkpoint, so neither pays for the other's dirty pages
# or the full-page images that follow a checkpoint (a superuser's right; skipped without it).
checkpoint() { psql -X -q "$ADMIN_URL" -c CHECKPOINT >/dev/null 2>&1 || true; }

# Checkouts sharing one target directory share its artifacts (cargo records sources by relative
# path and judges freshness by mtime): touching this checkout's sources makes cargo build them.
find api/src shared/src -name '*.rs' -exec touch {} +
cargo build --release -q -p mtx-api
# A private copy, for the same reason.
cp "$TARGET_DIR/release/mtx-api" "$WORK/mtx-api"
psql -X -q "$ADMIN_URL" -c "CREATE DATABASE $DB" >/dev/null

# --- the sidecar, at v1, with N subscribed tenants --------------------------------------
cp models/bookshop/v1/csn.json "$WORK/csn.json"
RUST_LOG=${RUST_LOG:-warn} MTX_DATABASE_URL="$DB_URL" MTX_MODEL="$WORK/csn.json" PORT="$PORT" \
  MTX_WORKER_SIZE="$WORKERS" MTX_QUEUE_SIZE=100000 MTX_DATA_DIR="$WORK/data" MTX_AUTH_ALLOW_DUMMY=true \
  "$WORK/mtx-api" 2>"$WORK/sidecar.log" &
SIDECAR_PID=$!
for _ in $(seq 100); do curl -sf "$BASE/health" >/dev/null 2>&1 && break; sleep 0.1; done

poll() { # job id → waits until it ends, prints its status
  local status
  while true; do
    status=$(curl -sf "$BASE/-/cds/jobs/pollJob(ID='$1')" | jq -r .status)
    case "$status" in QUEUED|RUNNING) sleep 0.25 ;; *) echo "$status"; return ;; esac
  done
}

log "subscribing $TENANTS tenants"
seq -f "t%05g" 1 "$TENANTS" | xargs -P 8 -I{} curl -sf -o /dev/null -X PUT \
  -H 'content-type: application/json' -d '{"subscribedSubdomain":"{}"}' \
  "$BASE/-/cds/saas-provisioning/tenant/{}"
if (( ROWS > 0 )); then
  log "inserting $ROWS rows per tenant"
  psql -X -q -At "$DB_URL" -c "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\_%'" |
    while read -r schema; do
      echo "INSERT INTO \"$schema\".my_bookshop_books (id, title, stock) SELECT md5(i::text), 'Book ' || i, i FROM generate_series(1, $ROWS) i;"
    done | psql -X -q "$DB_URL" >/dev/null
fi

# --- the plan the sidecar will run, for the psql baseline ---------------------------------
cp models/bookshop/v2/csn.json "$WORK/csn.json"
curl -sf -X POST -H 'content-type: application/json' \
  -d '{"tenants":["*"],"options":{"dryRun":true}}' \
  "$BASE/-/cds/saas-provisioning/upgrade" >"$WORK/plan.json"
REPRESENTATIVE=$(jq -r '.[0].renderedFor' "$WORK/plan.json")
[[ "$(jq '.[0].tenants | length' "$WORK/plan.json")" == "$TENANTS" ]] ||
  { log "the dry run does not cover $TENANTS tenants: $(head -c 300 "$WORK/plan.json")"; exit 1; }
REP_SCHEMA=$(psql -X -At "$DB_URL" -c \
  "SELECT location->>'schema' FROM mtx.tenants WHERE id = '$REPRESENTATIVE'" 2>/dev/null || true)
jq -r '.[0].statements[] + ";"' "$WORK/plan.json" >"$WORK/plan.sql"
log "plan: $(jq '.[0].statements | length' "$WORK/plan.json") statements per tenant (rendered for $REPRESENTATIVE, schema $REP_SCHEMA)"

# --- sidecar: upgrade ["*"] v1 → v2 --------------------------------------------------------
upgrade_all() {
  curl -sf -X POST -H 'content-type: application/json' -H 'prefer: respond-async' \
    -d '{"tenants":["*"]}' "$BASE/-/cds/saas-provisioning/upgrade" | jq -r .ID
}
checkpoint
start=$(now)
cpu_before=$(cpu_secs "$SIDECAR_PID")
machine_before=$(machine_cpu_secs)
job=$(upgrade_all)
status=$(poll "$job")
end=$(now)
SIDECAR_CPU=$(elapsed "$cpu_before" "$(cpu_secs "$SIDECAR_PID")")
SIDECAR_MACHINE_CPU=$(elapsed "$machine_before" "$(machine_cpu_secs)")
[[ "$(curl -sf "$BASE/-/cds/jobs/pollJob(ID='$job')" | jq '.tenants | length')" == "$TENANTS" ]] ||
  { log "the upgrade job does not cover $TENANTS tenants"; exit 1; }
SIDECAR_SECS=$(elapsed "$start" "$end")
log "sidecar upgrade v1 → v2: $status in ${SIDECAR_SECS}s (CPU: sidecar ${SIDECAR_CPU}s, machine ${SIDECAR_MACHINE_CPU}s)"
[[ "$status" == FINISHED ]] || { log "upgrade did not finish"; exit 1; }

checkpoint
start=$(now)
job=$(upgrade_all)
status=$(poll "$job")
end=$(now)
CURRENT_SECS=$(elapsed "$start" "$end")
log "sidecar upgrade, all at target: $status in ${CURRENT_SECS}s"

kill "$SIDECAR_PID"; wait "$SIDECAR_PID" 2>/dev/null || true; SIDECAR_PID=

# --- psql baseline: the same DDL for N other schemas, WORKERS psql processes ---------------
log "creating $TENANTS baseline schemas at v1"
V1_DDL=$(cat models/bookshop/v1/schema.postgres.sql)
for i in $(seq -f "%05g" 1 "$TENANTS"); do
  echo "CREATE SCHEMA plain_$i; SET search_path TO plain_$i; $V1_DDL"
done | psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" >/dev/null
if (( ROWS > 0 )); then
  for i in $(seq -f "%05g" 1 "$TENANTS"); do
    echo "INSERT INTO plain_$i.my_bookshop_books (id, title, stock) SELECT md5(g::text), 'Book ' || g, g FROM generate_series(1, $ROWS) g;"
  done | psql -X -q "$DB_URL" >/dev/null
fi
for w in $(seq 0 $((WORKERS - 1))); do : >"$WORK/share-$w.sql"; done
n=0
for i in $(seq -f "%05g" 1 "$TENANTS"); do
  {
    echo "BEGIN;"
    sed "s/\"$REP_SCHEMA\"\./\"plain_$i\"./g" "$WORK/plan.sql"
    echo "COMMIT;"
  } >>"$WORK/share-$((n % WORKERS)).sql"
  n=$((n + 1))
done
checkpoint
start=$(now)
machine_before=$(machine_cpu_secs)
for w in $(seq 0 $((WORKERS - 1))); do
  psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" -f "$WORK/share-$w.sql" >/dev/null &
done
wait $(jobs -p)
end=$(now)
PSQL_SECS=$(elapsed "$start" "$end")
PSQL_MACHINE_CPU=$(elapsed "$machine_before" "$(machine_cpu_secs)")
log "psql baseline: ${PSQL_SECS}s (CPU: machine ${PSQL_MACHINE_CPU}s)"

RATIO=$(echo "$SIDECAR_SECS / $PSQL_SECS" | bc -l)
printf '{"tenants":%d,"workers":%d,"rowsPerTenant":%d,"sidecarUpgradeSecs":%.3f,"psqlSecs":%.3f,"ratio":%.3f,"alreadyCurrentSecs":%.3f,"sidecarCpuSecs":%.3f}\n' \
  "$TENANTS" "$WORKERS" "$ROWS" "$SIDECAR_SECS" "$PSQL_SECS" "$RATIO" "$CURRENT_SECS" "$SIDECAR_CPU"
