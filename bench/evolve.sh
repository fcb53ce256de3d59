#!/usr/bin/env bash
# Schema-evolution benchmark: `upgrade ["*"]` bookshop v1 → v2 for N PostgreSQL tenants through
# the sidecar, against a plain psql baseline running the same DDL for N schemas with the same
# parallelism, and the time of an upgrade of N tenants already at the target.
#
# The two are measured in pairs: each round has a database of its own holding both the N
# sidecar tenants and the N baseline schemas (so both run against the same catalog), vacuums
# and checkpoints before each timed phase, and alternates which of the two goes first. The result
# is the median over the rounds: on a small shared machine a single timing of either varies by
# a third from run to run, while the ratio within a round varies much less.
#
# Usage: bench/evolve.sh            (from the repository root; see bench/README.md)
# Environment:
#   BENCH_DATABASE_URL  PostgreSQL server (default postgres://postgres@127.0.0.1:5432/postgres);
#                       databases mtx_bench_evolve_<pid>_<round> are created there and dropped
#   BENCH_TENANTS       number of tenants (default 1000)
#   BENCH_WORKERS       workerSize of the sidecar = number of psql processes (default 4)
#   BENCH_ROWS          rows inserted into each tenant's Books before the upgrade (default 0)
#   BENCH_ROUNDS        number of paired rounds (default 5)
#   BENCH_PORT          port of the sidecar (default 4711)
#   CARGO_TARGET_DIR    where the release build of mtx-api is (default target)
set -euo pipefail

ADMIN_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
TENANTS=${BENCH_TENANTS:-1000}
WORKERS=${BENCH_WORKERS:-4}
ROWS=${BENCH_ROWS:-0}
ROUNDS=${BENCH_ROUNDS:-5}
PORT=${BENCH_PORT:-4711}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BASE="http://127.0.0.1:$PORT"
WORK=$(mktemp -d)
SIDECAR_PID=
DB=

stop_sidecar() {
  if [[ -n "$SIDECAR_PID" ]]; then kill "$SIDECAR_PID" 2>/dev/null || true; wait "$SIDECAR_PID" 2>/dev/null || true; fi
  SIDECAR_PID=
}
drop_database() {
  if [[ -n "$DB" ]]; then psql -X -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true; fi
  DB=
}
cleanup() {
  stop_sidecar
  drop_database
  rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l; }
log() { echo "[evolve-bench] $*" >&2; }
# CPU seconds (user + system) the process has used so far.
cpu_secs() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }
# CPU seconds the whole machine has been busy so far (PostgreSQL's backends included).
machine_cpu_secs() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / { print ($2 + $3 + $4 + $7 + $8) / hz }' /proc/stat; }
# Each timed phase starts on a quiet database: vacuumed, so that autovacuum does not pick this
# moment to clean up the catalogs after thousands of schemas' DDL, and checkpointed, so that
# neither phase pays for the other's dirty pages or the full-page images that follow a
# checkpoint (a superuser's right; skipped without it).
quiesce() {
  psql -X -q "$DB_URL" -c VACUUM >/dev/null
  psql -X -q "$ADMIN_URL" -c CHECKPOINT >/dev/null 2>&1 || true
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Checkouts sharing one target directory share its artifacts (cargo records sources by relative
# path and judges freshness by mtime): touching this checkout's sources makes cargo build them.
find api/src shared/src -name '*.rs' -exec touch {} +
cargo build --release -q -p mtx-api
# A private copy, for the same reason.
cp "$TARGET_DIR/release/mtx-api" "$WORK/mtx-api"

start_sidecar() { # database URL
  RUST_LOG=${RUST_LOG:-warn} MTX_DATABASE_URL="$1" MTX_MODEL="$WORK/csn.json" PORT="$PORT" \
    MTX_WORKER_SIZE="$WORKERS" MTX_QUEUE_SIZE=100000 MTX_DATA_DIR="$WORK/data" MTX_AUTH_ALLOW_DUMMY=true \
    "$WORK/mtx-api" 2>>"$WORK/sidecar.log" &
  SIDECAR_PID=$!
  for _ in $(seq 100); do curl -sf "$BASE/health" >/dev/null 2>&1 && return; sleep 0.1; done
  log "the sidecar did not start: $(tail -5 "$WORK/sidecar.log")"
  exit 1
}

# Waits until the job ends, prints its status. The job's status is the first "status" of the
# answer; a regular expression finds it without parsing the whole answer (for 1,000 tasks,
# 340 kB), which jq did at a cost in CPU as large as a tenth of the sidecar's own, taken from the
# two cores it shares. Twice a second: the end is read from the job itself (ended_at), so the
# polling interval only has to be short enough not to keep the next phase waiting.
poll() { # job id
  local body status
  while true; do
    body=$(curl -sf "$BASE/-/cds/jobs/pollJob(ID='$1')")
    status=
    if [[ $body =~ \"status\":\"([A-Z]+)\" ]]; then status=${BASH_REMATCH[1]}; fi
    case "$status" in QUEUED|RUNNING) sleep 0.5 ;; *) echo "$status"; return ;; esac
  done
}

# When the job ended, in seconds since the epoch: its modifiedAt, the first of the answer (the
# job's own comes before its tasks').
ended_at() { # job id
  local body
  body=$(curl -sf "$BASE/-/cds/jobs/pollJob(ID='$1')")
  [[ $body =~ \"modifiedAt\":\"([^\"]+)\" ]] || { log "no modifiedAt in the job"; exit 1; }
  date -d "${BASH_REMATCH[1]}" +%s.%N
}

upgrade_all() { # → job id
  curl -sf -X POST -H 'content-type: application/json' -H 'prefer: respond-async' \
    -d '{"tenants":["*"]}' "$BASE/-/cds/saas-provisioning/upgrade" | jq -r .ID
}

insert_rows() { # schema name pattern
  if (( ROWS > 0 )); then
    psql -X -q -At "$DB_URL" -c "SELECT nspname FROM pg_namespace WHERE nspname LIKE '$1'" |
      while read -r schema; do
        echo "INSERT INTO \"$schema\".my_bookshop_books (id, title, stock) SELECT md5(g::text), 'Book ' || g, g FROM generate_series(1, $ROWS) g;"
      done | psql -X -q "$DB_URL" >/dev/null
  fi
}

# Sets SIDECAR_SECS, SIDECAR_CPU, SIDECAR_MACHINE_CPU.
time_sidecar() {
  quiesce
  local start cpu_before machine_before job status
  start=$(now)
  cpu_before=$(cpu_secs "$SIDECAR_PID")
  machine_before=$(machine_cpu_secs)
  job=$(upgrade_all)
  status=$(poll "$job")
  # From the request to the job's end as the sidecar recorded it: the client's polling lag is
  # not the sidecar's time.
  SIDECAR_SECS=$(elapsed "$start" "$(ended_at "$job")")
  SIDECAR_CPU=$(elapsed "$cpu_before" "$(cpu_secs "$SIDECAR_PID")")
  SIDECAR_MACHINE_CPU=$(elapsed "$machine_before" "$(machine_cpu_secs)")
  [[ "$status" == FINISHED ]] || { log "the upgrade ended $status"; exit 1; }
  [[ "$(curl -sf "$BASE/-/cds/jobs/pollJob(ID='$job')" | jq '.tenants | length')" == "$TENANTS" ]] ||
    { log "the upgrade job does not cover $TENANTS tenants"; exit 1; }
}

# Sets PSQL_SECS, PSQL_MACHINE_CPU.
time_psql() {
  quiesce
  local start machine_before w
  local -a pids=()
  start=$(now)
  machine_before=$(machine_cpu_secs)
  for w in $(seq 0 $((WORKERS - 1))); do
    psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" -f "$WORK/share-$w.sql" >/dev/null &
    pids+=($!)
  done
  wait "${pids[@]}"
  PSQL_SECS=$(elapsed "$start" "$(now)")
  PSQL_MACHINE_CPU=$(elapsed "$machine_before" "$(machine_cpu_secs)")
}

: >"$WORK/rounds"
for round in $(seq 1 "$ROUNDS"); do
  DB="mtx_bench_evolve_$$_$round"
  DB_URL="${ADMIN_URL%/*}/$DB"
  psql -X -q "$ADMIN_URL" -c "CREATE DATABASE $DB" >/dev/null

  # --- the sidecar, at v1, with N subscribed tenants ----------------------------------------
  cp models/bookshop/v1/csn.json "$WORK/csn.json"
  rm -rf "$WORK/data"
  start_sidecar "$DB_URL"
  log "round $round: subscribing $TENANTS tenants"
  seq -f "t%05g" 1 "$TENANTS" | xargs -P 8 -I{} curl -sf -o /dev/null -X PUT \
    -H 'content-type: application/json' -d '{"subscribedSubdomain":"{}"}' \
    "$BASE/-/cds/saas-provisioning/tenant/{}"
  insert_rows 'tenant\_%'

  # --- the plan the sidecar will run, for the psql baseline -----------------------------------
  cp models/bookshop/v2/csn.json "$WORK/csn.json"
  curl -sf -X POST -H 'content-type: application/json' \
    -d '{"tenants":["*"],"options":{"dryRun":true}}' \
    "$BASE/-/cds/saas-provisioning/upgrade" >"$WORK/plan.json"
  [[ "$(jq '.[0].tenants | length' "$WORK/plan.json")" == "$TENANTS" ]] ||
    { log "the dry run does not cover $TENANTS tenants: $(head -c 300 "$WORK/plan.json")"; exit 1; }
  REPRESENTATIVE=$(jq -r '.[0].renderedFor' "$WORK/plan.json")
  REP_SCHEMA=$(psql -X -At "$DB_URL" -c \
    "SELECT location->>'schema' FROM mtx.tenants WHERE id = '$REPRESENTATIVE'")
  jq -r '.[0].statements[] + ";"' "$WORK/plan.json" >"$WORK/plan.sql"
  if (( round == 1 )); then
    log "plan: $(jq '.[0].statements | length' "$WORK/plan.json") statements per tenant (rendered for $REPRESENTATIVE, schema $REP_SCHEMA)"
  fi

  # --- the baseline's N schemas at v1, in the same database -----------------------------------
  V1_DDL=$(cat models/bookshop/v1/schema.postgres.sql)
  for i in $(seq -f "%05g" 1 "$TENANTS"); do
    echo "CREATE SCHEMA plain_$i; SET search_path TO plain_$i; $V1_DDL"
  done | psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" >/dev/null
  insert_rows 'plain\_%'
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

  # --- the pair, in alternating order ---------------------------------------------------------
  if (( round % 2 == 1 )); then time_sidecar; time_psql; else time_psql; time_sidecar; fi

  # --- all at the target already --------------------------------------------------------------
  start=$(now)
  job=$(upgrade_all)
  status=$(poll "$job")
  CURRENT_SECS=$(elapsed "$start" "$(ended_at "$job")")
  [[ "$status" == FINISHED ]] || { log "the no-op upgrade ended $status"; exit 1; }

  RATIO=$(echo "$SIDECAR_SECS / $PSQL_SECS" | bc -l)
  log "$(printf 'round %d: sidecar %.3f s (CPU: sidecar %.2f s, machine %.2f s), psql %.3f s (CPU: machine %.2f s), ratio %.3f; already at target %.3f s' \
    "$round" "$SIDECAR_SECS" "$SIDECAR_CPU" "$SIDECAR_MACHINE_CPU" "$PSQL_SECS" "$PSQL_MACHINE_CPU" "$RATIO" "$CURRENT_SECS")"
  echo "$SIDECAR_SECS $PSQL_SECS $RATIO $CURRENT_SECS $SIDECAR_CPU" >>"$WORK/rounds"

  stop_sidecar
  drop_database
done

col() { awk -v c="$1" '{ print $c }' "$WORK/rounds" | median; }
printf '{"tenants":%d,"workers":%d,"rowsPerTenant":%d,"rounds":%d,"sidecarUpgradeSecs":%.3f,"psqlSecs":%.3f,"ratio":%.3f,"alreadyCurrentSecs":%.3f,"sidecarCpuSecs":%.3f,"roundRatios":[%s]}\n' \
  "$TENANTS" "$WORKERS" "$ROWS" "$ROUNDS" "$(col 1)" "$(col 2)" "$(col 3)" "$(col 4)" "$(col 5)" \
  "$(awk '{ printf "%s%.3f", (NR > 1 ? "," : ""), $3 }' "$WORK/rounds")"
