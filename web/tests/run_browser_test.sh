#!/usr/bin/env bash
# The dashboard in a real headless Chromium (issue 14), against
# `raceway serve` seeded by `raceway demo`.
#
#   run_browser_test.sh RACEWAY_BINARY SOURCE_DIR
#
# Builds nothing: the page is the one built into RACEWAY_BINARY (the query
# service serves it on its gRPC-Web port, same origin as the API); needs
# SOURCE_DIR/web/node_modules (npm ci) for playwright-core.
# 1. writes a large trace (RACEWAY_LARGE_EVENTS events, default 100000; 0 =
#    none) with gen_large_trace.mjs and `raceway import`s it into a temp
#    SQLite database
# 2. starts `raceway serve` on that database, every port 127.0.0.1:0, a
#    query API key, no CORS (the page is served by the query service)
# 3. seeds the server with `raceway demo`
# 4. runs browser.test.mjs (playwright-core driving /usr/bin/chromium)
# Screenshots go to RACEWAY_SCREENSHOT_DIR (default: a temporary directory,
# printed). Everything started here is stopped on exit (trap + watchdog).
# Only 127.0.0.1 is contacted.
# Exit: 0 pass, 1 failure, 77 skipped (node_modules or chromium
# missing, run by hand; under CI, i.e. with CI set, that is a failure).
set -euo pipefail

if (($# != 2)); then
  echo "usage: $0 RACEWAY_BINARY SOURCE_DIR" >&2
  exit 2
fi
RACEWAY=$1
WEB=$(cd "$2/web" && pwd)
CHROMIUM=${RACEWAY_CHROMIUM:-/usr/bin/chromium}
LARGE_EVENTS=${RACEWAY_LARGE_EVENTS:-100000}
# raceway refuses unknown RACEWAY_* environment variables: ours stay shell
# variables, passed to the test explicitly.
export -n RACEWAY_CHROMIUM RACEWAY_LARGE_EVENTS RACEWAY_SCREENSHOT_DIR

unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY grpc_proxy all_proxy ALL_PROXY
export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost

unavailable() {
  if [[ -n "${CI:-}" ]]; then
    echo "web_browser_test: FAIL: $1 (CI is set, so this is a failure; run scripts/setup)" >&2
    exit 1
  fi
  echo "web_browser_test: SKIPPED: $1"
  exit 77
}
command -v node >/dev/null || unavailable "node is not installed"
[[ -x "$CHROMIUM" ]] || unavailable "$CHROMIUM is missing (apt-get install chromium)"
[[ -f "$WEB/node_modules/playwright-core/package.json" ]] || unavailable "web/node_modules is missing (cd web && npm ci)"
[[ -x "$RACEWAY" ]] || { echo "web_browser_test: FAIL: no raceway binary at $RACEWAY" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/raceway-browser.XXXXXX")
SHOTS=${RACEWAY_SCREENSHOT_DIR:-$WORK/screenshots}
mkdir -p "$SHOTS"
SERVER_PID="" WATCHDOG_PID=""
stop() {  # stop PID: TERM, then KILL after 10 s
  [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null || return 0
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  [[ -z "$WATCHDOG_PID" ]] || kill "$WATCHDOG_PID" 2>/dev/null || true
  stop "$SERVER_PID"
  if ((rc != 0)) && [[ -f "$WORK/serve.err" ]]; then
    echo "--- raceway serve stderr (last 20 lines)" >&2
    tail -n 20 "$WORK/serve.err" >&2
    echo "web_browser_test: FAILED (exit $rc)" >&2
  fi
  # Screenshots in the temporary directory are kept only when asked for.
  rm -rf "$WORK/profile" "$WORK"/raceway.db* "$WORK"/*.out "$WORK"/*.err "$WORK/large.jsonl"
  [[ -n "${RACEWAY_SCREENSHOT_DIR:-}" ]] && rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# 1. The large trace, imported before the server opens the database.
LARGE_TRACE=""
if ((LARGE_EVENTS > 0)); then
  LARGE_TRACE=$(node "$WEB/tests/gen_large_trace.mjs" "$LARGE_EVENTS" "$WORK/large.jsonl")
  "$RACEWAY" import --to "sqlite://$WORK/raceway.db" --in "$WORK/large.jsonl" >"$WORK/import.out" 2>&1 ||
    { cat "$WORK/import.out" >&2; exit 1; }
  rm -f "$WORK/large.jsonl"
  echo "large trace $LARGE_TRACE: $LARGE_EVENTS events imported"
fi

# 2. Server: the temp SQLite, free loopback ports, HTTP intake and metrics off.
API_KEY=browser-test-$RANDOM$RANDOM
"$RACEWAY" serve \
  --storage.backend=sqlite "--storage.sqlite.database_path=$WORK/raceway.db" \
  --ingest.listen=127.0.0.1:0 --ingest.http_listen= \
  --query.listen=127.0.0.1:0 --query.grpc_web_listen=127.0.0.1:0 \
  --metrics.ingest_listen= --metrics.query_listen= \
  "--auth.query_keys=$API_KEY" \
  >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!
DRIVER_PID=$$
(
  while kill -0 "$DRIVER_PID" 2>/dev/null; do sleep 1; done
  kill -TERM "$SERVER_PID" 2>/dev/null
  sleep 2
  rm -rf "$WORK/profile"
) </dev/null >/dev/null 2>&1 &
WATCHDOG_PID=$!

port_of() {  # port_of MESSAGE FIELD
  { grep -F "\"$1\"" "$WORK/serve.err" 2>/dev/null || true; } | head -n 1 |
    sed -n "s/.*\"$2\": *\"\\{0,1\\}\\([0-9]*\\).*/\\1/p"
}
INGEST_PORT="" WEB_PORT=""
for _ in $(seq 300); do
  INGEST_PORT=$(port_of "ingest started" grpc_port)
  WEB_PORT=$(port_of "query started" grpc_web_port)
  [[ -n "$INGEST_PORT" && -n "$WEB_PORT" ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "web_browser_test: raceway serve exited" >&2; exit 1; }
  sleep 0.1
done
if [[ -z "$INGEST_PORT" || -z "$WEB_PORT" || "$INGEST_PORT" == 0 || "$WEB_PORT" == 0 ]]; then
  echo "web_browser_test: no ports from raceway serve within 30 s" >&2
  exit 1
fi
PAGE_ORIGIN="http://127.0.0.1:$WEB_PORT"
echo "raceway serve: ingest gRPC 127.0.0.1:$INGEST_PORT, query gRPC-Web and dashboard $PAGE_ORIGIN"
# The binary must carry the page (built with npm), not the how-to-build note.
if ! node -e 'fetch(process.argv[1]).then(r => r.text()).then(t => process.exit(t.includes("/assets/") ? 0 : 1), () => process.exit(1))' "$PAGE_ORIGIN/"; then
  echo "web_browser_test: FAIL: $RACEWAY serves no dashboard at / (built without npm? run scripts/setup and rebuild)" >&2
  exit 1
fi

# 3. Seed: ten ordinary checkouts and the racy demo checkout.
"$RACEWAY" demo --ingest "127.0.0.1:$INGEST_PORT" >"$WORK/demo.out"
TRACE=$(sed -n 's/^Demo trace: \([0-9a-f-]*\)$/\1/p' "$WORK/demo.out")
[[ -n "$TRACE" ]] || { echo "web_browser_test: no demo trace id in the demo output" >&2; exit 1; }
echo "demo trace $TRACE; screenshots in $SHOTS"

# 4. The browser test.
cd "$WEB"
RACEWAY_PAGE_URL="$PAGE_ORIGIN" \
  RACEWAY_API_URL="http://127.0.0.1:$WEB_PORT" \
  RACEWAY_DEMO_TRACE="$TRACE" \
  RACEWAY_LARGE_TRACE="$LARGE_TRACE" \
  RACEWAY_LARGE_EVENTS="$LARGE_EVENTS" \
  RACEWAY_API_KEY="$API_KEY" \
  RACEWAY_CHROMIUM="$CHROMIUM" \
  RACEWAY_PROFILE_DIR="$WORK/profile" \
  RACEWAY_SCREENSHOT_DIR="$SHOTS" \
  node --test --test-reporter=spec --test-concurrency=1 tests/browser.test.mjs
