#!/usr/bin/env bash
# The one command that runs the whole test suite: formatting, lints, every test.
#
# Usage: scripts/test.sh            (from any directory)
#
# Tests need a PostgreSQL server and a Redis server. They are found like this:
#   PostgreSQL: $MTX_TEST_DATABASE_URL if set; else postgres://postgres@127.0.0.1:5432/postgres if a
#               server answers there; else an ephemeral server on a free port in a temp dir.
#   Redis:      $MTX_TEST_REDIS_URL if set; else redis://127.0.0.1:6379 if a server answers there;
#               else an ephemeral server on a free port.
# MTX_TEST_EPHEMERAL=1 skips both lookups and always starts ephemeral servers (used to test this
# script on a machine whose services must keep running).
#
# Missing server binaries are installed with apt-get (needs root). Only the servers this script
# started are stopped on exit, by the PIDs it recorded.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

readonly DEFAULT_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
readonly DEFAULT_REDIS_URL="redis://127.0.0.1:6379"
# initdb and postgres refuse to run as root; this unprivileged user runs them instead.
readonly PG_SYSTEM_USER="mtxtest"

SCRIPT_START=$SECONDS
TMP_DIR=""
PG_PID=""
PG_DATA=""
REDIS_PID=""
APT_UPDATED=0
declare -a STEP_NAMES=()
declare -a STEP_RESULTS=()

section() { printf '\n==== %s ====\n' "$*"; }
info() { printf '  %s\n' "$*"; }
die() {
  printf 'test.sh: error: %s\n' "$*" >&2
  exit 1
}

as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

# Stops what this script started, and nothing else.
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $REDIS_PID ]]; then
    stop_pid "$REDIS_PID" "ephemeral Redis"
  fi
  if [[ -n $PG_PID ]]; then
    stop_pid "$PG_PID" "ephemeral PostgreSQL"
  fi
  if [[ -n $TMP_DIR && -d $TMP_DIR ]]; then
    rm -rf -- "$TMP_DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# SIGINT is PostgreSQL's "fast shutdown" and makes Redis exit at once (no save is configured);
# SIGKILL only if the process ignores it for 10 s.
stop_pid() {
  local pid=$1 what=$2
  kill -0 "$pid" 2>/dev/null || return 0
  info "stopping $what (pid $pid)"
  kill -INT "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

make_tmp_dir() {
  if [[ -z $TMP_DIR ]]; then
    TMP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mtx-test.XXXXXX")
    chmod 755 "$TMP_DIR"
  fi
}

# A port nothing listens on right now. A race with another process is possible; the callers retry.
free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  die "found no free port"
}

apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install $* by hand"
  if [[ $APT_UPDATED -eq 0 ]]; then
    info "apt-get update"
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  # Keep the package from starting a system-wide server (we start our own, on our terms): Debian
  # asks /usr/sbin/policy-rc.d before starting services, and postgresql-common reads
  # create_main_cluster before creating the default cluster on port 5432.
  local policy_added=0 cluster_conf_added=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod 755 /usr/sbin/policy-rc.d
    policy_added=1
  fi
  if [[ ! -e /etc/postgresql-common/createcluster.d/mtx-test.conf ]]; then
    as_root mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = off" | as_root tee /etc/postgresql-common/createcluster.d/mtx-test.conf >/dev/null
    cluster_conf_added=1
  fi
  info "apt-get install $*"
  local rc=0
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" </dev/null || rc=$?
  if [[ $policy_added -eq 1 ]]; then
    as_root rm -f /usr/sbin/policy-rc.d
  fi
  if [[ $cluster_conf_added -eq 1 ]]; then
    as_root rm -f /etc/postgresql-common/createcluster.d/mtx-test.conf
  fi
  [[ $rc -eq 0 ]] || die "apt-get install $* failed"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL

postgres_answers() {
  local url=$1
  if command -v psql >/dev/null 2>&1; then
    PGCONNECT_TIMEOUT=3 psql "$url" -XAtqc 'select 1' >/dev/null 2>&1
  else
    # Without a client we can only see that something listens on the default port.
    (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
  fi
}

postgres_bin_dir() {
  local dir candidates
  # Debian keeps the server binaries (not on PATH) under /usr/lib/postgresql/<major>/bin.
  candidates=$(compgen -G '/usr/lib/postgresql/*/bin' || true)
  dir=$(sort -V <<<"$candidates" | tail -n 1)
  if [[ -n $dir && -x $dir/initdb && -x $dir/postgres ]]; then
    echo "$dir"
    return 0
  fi
  if command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1; then
    dirname "$(command -v postgres)"
    return 0
  fi
  return 1
}

# Runs a command as the unprivileged owner of the ephemeral cluster (as ourselves if not root).
# Runs from the temp dir because initdb and pg_ctl fail when they cannot read the current directory.
as_pg_user() {
  (
    cd "$TMP_DIR"
    if [[ $EUID -eq 0 ]]; then
      exec runuser -u "$PG_SYSTEM_USER" -- "$@"
    else
      exec "$@"
    fi
  )
}

start_ephemeral_postgres() {
  local bin
  if ! bin=$(postgres_bin_dir); then
    apt_install postgresql
    bin=$(postgres_bin_dir) || die "PostgreSQL server binaries still missing after installing postgresql"
  fi
  if [[ $EUID -eq 0 ]] && ! id -u "$PG_SYSTEM_USER" >/dev/null 2>&1; then
    info "creating system user $PG_SYSTEM_USER"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_SYSTEM_USER"
  fi
  make_tmp_dir
  local dir=$TMP_DIR/postgres
  mkdir -p "$dir"
  if [[ $EUID -eq 0 ]]; then
    chown "$PG_SYSTEM_USER" "$dir"
  fi
  PG_DATA=$dir/data
  info "initdb ($bin)"
  as_pg_user "$bin/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 --no-locale \
    >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    die "initdb failed"
  }

  local port attempt
  for attempt in 1 2 3; do
    port=$(free_port)
    # fsync off and friends: the data is thrown away anyway, and tests create many schemas.
    if as_pg_user "$bin/pg_ctl" -D "$PG_DATA" -l "$dir/server.log" -w -t 60 start -o \
      "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      >/dev/null 2>&1; then
      PG_PID=$(head -n 1 "$PG_DATA/postmaster.pid")
      export MTX_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
      info "ephemeral PostgreSQL started (pid $PG_PID, port $port, data $PG_DATA)"
      return 0
    fi
    info "PostgreSQL did not start on port $port (attempt $attempt)"
  done
  cat "$dir/server.log" >&2 || true
  die "could not start an ephemeral PostgreSQL"
}

setup_postgres() {
  section "PostgreSQL"
  if [[ ${MTX_TEST_EPHEMERAL:-0} != 1 ]]; then
    if [[ -n ${MTX_TEST_DATABASE_URL:-} ]]; then
      info "using MTX_TEST_DATABASE_URL from the environment"
      if command -v psql >/dev/null 2>&1 && ! postgres_answers "$MTX_TEST_DATABASE_URL"; then
        info "warning: no answer from MTX_TEST_DATABASE_URL; database tests will fail"
      fi
      return 0
    fi
    if postgres_answers "$DEFAULT_DATABASE_URL"; then
      export MTX_TEST_DATABASE_URL=$DEFAULT_DATABASE_URL
      info "using the server at $DEFAULT_DATABASE_URL"
      return 0
    fi
    info "no server at $DEFAULT_DATABASE_URL"
  else
    info "MTX_TEST_EPHEMERAL=1: starting an ephemeral server"
  fi
  start_ephemeral_postgres
}

# ---------------------------------------------------------------------------------------------
# Redis

# Speaks just enough RESP to see a PONG, so no redis-cli is needed.
redis_answers() {
  local host=$1 port=$2 reply
  reply=$(
    { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || exit 1
    printf 'PING\r\n' >&3
    timeout 3 head -c 5 <&3
  ) 2>/dev/null || return 1
  [[ $reply == "+PONG" ]]
}

start_ephemeral_redis() {
  local bin
  bin=$(command -v redis-server || true)
  if [[ -z $bin ]]; then
    apt_install redis-server
    bin=$(command -v redis-server) || die "redis-server still missing after installing redis-server"
  fi
  make_tmp_dir
  local dir=$TMP_DIR/redis port attempt
  mkdir -p "$dir"
  for attempt in 1 2 3; do
    port=$(free_port)
    # Backgrounded (not --daemonize) so that $! is the server's own PID.
    "$bin" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
      --daemonize no >"$dir/server.log" 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 1 50); do
      if redis_answers 127.0.0.1 "$port"; then
        export MTX_TEST_REDIS_URL="redis://127.0.0.1:$port"
        info "ephemeral Redis started (pid $REDIS_PID, port $port)"
        return 0
      fi
      kill -0 "$REDIS_PID" 2>/dev/null || break
      sleep 0.1
    done
    stop_pid "$REDIS_PID" "Redis that did not answer"
    REDIS_PID=""
    info "Redis did not start on port $port (attempt $attempt)"
  done
  cat "$dir/server.log" >&2 || true
  die "could not start an ephemeral Redis"
}

setup_redis() {
  section "Redis"
  if [[ ${MTX_TEST_EPHEMERAL:-0} != 1 ]]; then
    if [[ -n ${MTX_TEST_REDIS_URL:-} ]]; then
      info "using MTX_TEST_REDIS_URL from the environment"
      return 0
    fi
    if redis_answers 127.0.0.1 6379; then
      export MTX_TEST_REDIS_URL=$DEFAULT_REDIS_URL
      info "using the server at $DEFAULT_REDIS_URL"
      return 0
    fi
    info "no server at $DEFAULT_REDIS_URL"
  else
    info "MTX_TEST_EPHEMERAL=1: starting an ephemeral server"
  fi
  start_ephemeral_redis
}

# ---------------------------------------------------------------------------------------------
# Steps

# Runs one step, records its outcome and carries on, so one run shows every problem.
step() {
  local name=$1
  shift
  section "$name"
  echo "+ $*"
  local start=$SECONDS rc=0
  "$@" || rc=$?
  local took=$((SECONDS - start))
  STEP_NAMES+=("$name")
  if [[ $rc -eq 0 ]]; then
    STEP_RESULTS+=("ok     ${took}s")
  else
    STEP_RESULTS+=("FAILED ${took}s (exit $rc)")
  fi
}

# rust-toolchain.toml names an exact version. Where rustup has no toolchain of that name but its
# stable toolchain is that very version, link it under the name instead of downloading one.
ensure_pinned_toolchain() {
  command -v rustup >/dev/null 2>&1 || return 0
  local pinned
  pinned=$(sed -nE 's/^channel = "([^"]+)"/\1/p' rust-toolchain.toml)
  [[ -n $pinned ]] || return 0
  if rustup toolchain list | grep -q "^$pinned"; then
    return 0
  fi
  local stable_dir stable_version
  stable_dir=$(rustup run stable rustc --print sysroot 2>/dev/null || true)
  stable_version=$(rustup run stable rustc --version 2>/dev/null | awk '{print $2}')
  if [[ -n $stable_dir && $stable_version == "$pinned" ]]; then
    info "linking the installed stable toolchain ($stable_version) as $pinned"
    rustup toolchain link "$pinned" "$stable_dir"
  else
    info "toolchain $pinned is not installed; rustup will try to install it"
  fi
}

ensure_rust_components() {
  local missing=()
  cargo fmt --version >/dev/null 2>&1 || missing+=(rustfmt)
  cargo clippy --version >/dev/null 2>&1 || missing+=(clippy)
  if [[ ${#missing[@]} -gt 0 ]]; then
    command -v rustup >/dev/null 2>&1 || die "missing cargo components: ${missing[*]}"
    info "rustup component add ${missing[*]}"
    rustup component add "${missing[@]}"
  fi
}

main() {
  section "mtx test suite"
  info "repository: $(pwd)"
  ensure_pinned_toolchain
  info "cargo: $(cargo --version)"

  setup_postgres
  setup_redis
  info "MTX_TEST_DATABASE_URL=$MTX_TEST_DATABASE_URL"
  info "MTX_TEST_REDIS_URL=$MTX_TEST_REDIS_URL"

  ensure_rust_components
  export RUST_BACKTRACE=${RUST_BACKTRACE:-1}
  # In CI the lock file must already be right; locally cargo may update it.
  local locked=()
  local profile=default
  if [[ -n ${CI:-} ]]; then
    locked=(--locked)
    profile=ci
  fi

  step "format" cargo fmt --all --check
  step "unused dependencies" python3 scripts/unused_deps.py
  step "clippy" cargo clippy "${locked[@]}" --workspace --all-targets -- -D warnings
  # The distributed end-to-end tests start mtx-api and mtx-worker as processes; test runners do
  # not build other packages' binaries for an integration test.
  step "binaries" cargo build "${locked[@]}" --bins
  if cargo nextest --version >/dev/null 2>&1; then
    # nextest does not run doctests; they go first so the test summary closes the output.
    step "doctests" cargo test "${locked[@]}" --workspace --doc
    step "tests (nextest, profile $profile)" run_nextest "$profile" "${locked[@]}"
  else
    info "cargo-nextest not found: falling back to cargo test"
    step "tests (cargo test)" cargo test "${locked[@]}" --workspace --no-fail-fast
  fi

  section "summary"
  local failed=0 i
  for i in "${!STEP_NAMES[@]}"; do
    printf '  %-36s %s\n' "${STEP_NAMES[$i]}" "${STEP_RESULTS[$i]}"
    [[ ${STEP_RESULTS[$i]} == ok* ]] || failed=$((failed + 1))
  done
  local total=$((SECONDS - SCRIPT_START))
  if [[ $failed -eq 0 ]]; then
    printf '\nRESULT: PASS (%d steps, %ds)\n' "${#STEP_NAMES[@]}" "$total"
  else
    printf '\nRESULT: FAIL (%d of %d steps failed, %ds)\n' "$failed" "${#STEP_NAMES[@]}" "$total"
  fi
  # The test counts, alone on the last line, for whoever reads the end of the log.
  if [[ -n $TEST_COUNTS ]]; then
    printf 'tests: %s\n' "$TEST_COUNTS"
  fi
  [[ $failed -eq 0 ]]
}

# nextest, with its counts kept for the last line of the run ("N passed, N failed").
TEST_COUNTS=""
run_nextest() {
  local profile=$1
  shift
  local log rc=0
  log=$(mktemp)
  cargo nextest run "$@" --workspace --no-fail-fast --profile "$profile" 2>&1 | tee "$log" || rc=$?
  local summary passed failed
  summary=$(grep -E '^ *Summary \[' "$log" | tail -n 1 || true)
  passed=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$summary")
  failed=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$summary")
  if [[ -n $passed ]]; then
    TEST_COUNTS="${passed} passed, ${failed:-0} failed"
  fi
  rm -f -- "$log"
  return "$rc"
}

main "$@"
