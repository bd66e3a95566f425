#!/usr/bin/env bash
# Runs the README's "Try it" section as a user would: `scripts/run`, then
# `raceway demo`, `traces`, `races`, `critical-path`, `audit`, `anomalies`,
# `services`, `deps`, `hotspots`, `performance`, `edges`, `service`, `hb`
# and `--help` against it, checking each answer; then SIGTERM (what Ctrl-C
# does in a terminal; a background job of a script ignores SIGINT) must stop
# the server with exit 0. scripts/test runs this after ctest.
#
# Deviation from a user's terminal, all through the documented environment
# variables: ports are 0 (free ports, read from what `scripts/run` prints)
# and the database lives in a temporary directory.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
RACEWAY="$ROOT/build/tools/raceway/raceway"
WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then kill -KILL "$SERVER_PID"; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
  echo "readme_commands: FAIL: $*" >&2
  echo "--- scripts/run output:" >&2
  cat "$WORK/run.out" >&2 || true
  exit 1
}

export RACEWAY_STORAGE_SQLITE_DATABASE_PATH="$WORK/raceway.db"
export RACEWAY_INGEST_LISTEN=127.0.0.1:0 RACEWAY_INGEST_HTTP_LISTEN=127.0.0.1:0
export RACEWAY_QUERY_LISTEN=127.0.0.1:0 RACEWAY_QUERY_GRPC_WEB_LISTEN=127.0.0.1:0
export RACEWAY_METRICS_INGEST_LISTEN=127.0.0.1:0 RACEWAY_METRICS_QUERY_LISTEN=127.0.0.1:0

# 1. scripts/run (setup and build are no-ops when done; it execs serve).
scripts/run >"$WORK/run.out" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 600); do
  grep -q '^Try: raceway demo' "$WORK/run.out" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || fail "scripts/run exited early"
  sleep 0.5
done
grep -q '^Try: raceway demo' "$WORK/run.out" || fail "scripts/run did not print the next command"
INGEST=$(sed -n 's/^Try: raceway demo --ingest \([0-9.:]*\) .*/\1/p' "$WORK/run.out")
QUERY=$(sed -n 's/.*raceway traces --server \([0-9.:]*\)$/\1/p' "$WORK/run.out")
[[ -n "$INGEST" && -n "$QUERY" ]] || fail "no ports in the output of scripts/run"
export RACEWAY_QUERY_ADDR="$QUERY"

# 2. The demo and the query commands of the README.
"$RACEWAY" demo --ingest "$INGEST" >"$WORK/demo.out" || fail "raceway demo exited $?"
TRACE=$(sed -n 's/^Demo trace: \([0-9a-f-]*\)$/\1/p' "$WORK/demo.out")
[[ -n "$TRACE" ]] || fail "raceway demo printed no trace id: $(cat "$WORK/demo.out")"

expect() {  # expect NAME PATTERN -- command...
  local name=$1 pattern=$2
  shift 3
  local out
  out=$("$@" 2>&1) || fail "$name exited $?: $out"
  grep -qE "$pattern" <<<"$out" || fail "$name: no /$pattern/ in: $out"
  echo "readme_commands: ok: $name"
}
expect traces "$TRACE" -- "$RACEWAY" traces
expect races 'CRITICAL.*balance|balance.*CRITICAL' -- "$RACEWAY" races "$TRACE"
expect critical-path '%' -- "$RACEWAY" critical-path "$TRACE"
expect audit 'WRITE.*RACE' -- "$RACEWAY" audit "$TRACE" balance
expect anomalies 'charge' -- "$RACEWAY" anomalies "$TRACE"
expect services 'payments' -- "$RACEWAY" services
expect races-json '"severity"' -- "$RACEWAY" races "$TRACE" --json
expect deps 'api -> payments' -- "$RACEWAY" deps "$TRACE"
expect deps-json '"edges"' -- "$RACEWAY" deps "$TRACE" --json
expect hotspots '^balance +2 +1 +payments$' -- "$RACEWAY" hotspots
expect performance '^11 trace\(s\)' -- "$RACEWAY" performance
expect edges '^api -> payments ' -- "$RACEWAY" edges
expect service '^called by +api ' -- "$RACEWAY" service payments
# Two events of one thread, from the trace's table (TIME is two fields).
EVENTS=$("$RACEWAY" trace "$TRACE" | awk '$3 == "pay-worker-1" { print $NF }')
A=$(sed -n 1p <<<"$EVENTS")
B=$(sed -n 2p <<<"$EVENTS")
[[ -n "$A" && -n "$B" ]] || fail "no events of pay-worker-1 in: $("$RACEWAY" trace "$TRACE")"
expect hb '^BEFORE ' -- "$RACEWAY" hb "$TRACE" "$A" "$B"
expect serve-help '^usage: raceway serve' -- "$RACEWAY" serve --help

# 3. It stops cleanly.
kill -TERM "$SERVER_PID"
status=0
wait "$SERVER_PID" || status=$?
SERVER_PID=
[[ $status -eq 0 ]] || fail "raceway serve exited $status after SIGTERM"
echo "readme_commands: all README commands work"
