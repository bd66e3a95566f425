#!/usr/bin/env bash
# A throwaway PostgreSQL 15 primary plus one streaming hot standby, for the
# read-replica and failover tests (tests/replica). Run as root (the servers
# run as the postgres user). Everything lives under DIR; nothing listens
# beyond 127.0.0.1.
#
#   tests/support/pg_cluster.sh start DIR [--sync]
#       initdb the primary, CREATE DATABASE raceway, clone the standby with
#       pg_basebackup -R (physical slot "standby"), start it and wait until
#       it streams. --sync: synchronous_standby_names = 'standby' and
#       synchronous_commit = on, so a COMMIT returns only once the standby
#       has flushed its WAL; start waits until the standby is "sync".
#       Writes DIR/env.sh (below).
#   tests/support/pg_cluster.sh stop DIR           both servers (idempotent)
#   tests/support/pg_cluster.sh kill-primary DIR   kill -9 the postmaster and
#       all of its processes at once (a machine crash: no process is left to
#       send more WAL to the standby)
#   tests/support/pg_cluster.sh promote DIR        pg_ctl promote the standby;
#       returns once it accepts writes and prints "promoted in N ms"
#   tests/support/pg_cluster.sh pause-replay DIR   pg_wal_replay_pause() on the
#       standby: it keeps receiving WAL and answering reads, applies nothing
#   tests/support/pg_cluster.sh resume-replay DIR  pg_wal_replay_resume()
#   tests/support/pg_cluster.sh detach-standby DIR the standby stops receiving
#       WAL (primary_conninfo = ''): a hot standby that falls behind, for
#       measuring what an asynchronous failover loses
#
# DIR/env.sh exports RACEWAY_TEST_CLUSTER_PRIMARY_URL,
# RACEWAY_TEST_CLUSTER_STANDBY_URL and RACEWAY_TEST_CLUSTER_FAILOVER_URL
# (both hosts with target_session_attrs=read-write: libpq connects to
# whichever accepts writes, the primary before a failover, the promoted
# standby after it). Logs: DIR/primary.log, DIR/standby.log.
set -euo pipefail

cmd=${1:?usage: pg_cluster.sh start|stop|kill-primary|promote|pause-replay|resume-replay|detach-standby DIR}
D=$(realpath -m "${2:?DIR required}")
PGBIN=/usr/lib/postgresql/15/bin
DB=raceway

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# pg_start NAME PORT: starts DIR/NAME with its own port and socket directory.
pg_start() {
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$D/$1" -l "$D/$1.log" \
    -o "-c listen_addresses=127.0.0.1 -p $2 -k $D/sock-$1 -c cluster_name=$1" \
    -w -t 60 start >/dev/null
}

pg_stop() {
  if [[ -f "$D/$1/postmaster.pid" && ! -f "$D/$1.killed" ]]; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$D/$1" -m immediate -w -t 60 stop >/dev/null || true
  fi
}

# Sets P_PORT and S_PORT (written by start).
ports() {
  # shellcheck source=/dev/null
  source "$D/ports"
}

# psql_at PORT SQL: one query against the raceway database, unaligned output.
psql_at() {
  runuser -u postgres -- psql "postgresql://postgres@127.0.0.1:$1/$DB" -qAtX -c "$2"
}

# wait_for PORT SQL EXPECTED: polls until the query prints EXPECTED (60 s).
wait_for() {
  local got=""
  for _ in $(seq 1 600); do
    got=$(psql_at "$1" "$2" 2>/dev/null || true)
    [[ "$got" == "$3" ]] && return 0
    sleep 0.1
  done
  echo "pg_cluster: timed out waiting for '$2' = '$3' on :$1 (last: '$got'); logs in $D" >&2
  return 1
}

now_ms() { date +%s%3N; }

case "$cmd" in
start)
  sync=0
  [[ "${3:-}" == "--sync" ]] && sync=1
  "$0" stop "$D" || true
  rm -rf "$D" && mkdir -p "$D"
  chmod 755 "$D"
  P_PORT=$(free_port); S_PORT=$(free_port)
  while [[ $S_PORT == "$P_PORT" ]]; do S_PORT=$(free_port); done
  echo "P_PORT=$P_PORT S_PORT=$S_PORT" >"$D/ports"
  mkdir -p "$D/sock-primary" "$D/sock-standby"
  chown postgres:postgres "$D/sock-primary" "$D/sock-standby"
  # Log files are created by pg_ctl as postgres: the directory must allow it.
  chown postgres:postgres "$D"

  # -N: the data directory need not survive a power loss; the servers run
  # with fsync = on, which is what commits rely on.
  runuser -u postgres -- "$PGBIN/initdb" -D "$D/primary" -U postgres --auth=trust -E UTF8 \
    --locale=C.UTF-8 -N >"$D/initdb.log" 2>&1
  # Settings both servers share (pg_basebackup copies this file). initdb's
  # pg_hba.conf already trusts replication connections from 127.0.0.1.
  cat >>"$D/primary/postgresql.conf" <<CONF
fsync = on
wal_level = replica
max_wal_senders = 4
max_replication_slots = 4
hot_standby = on
max_connections = 100
CONF
  pg_start primary "$P_PORT"
  runuser -u postgres -- psql "postgresql://postgres@127.0.0.1:$P_PORT/postgres" -qAtX \
    -c "CREATE DATABASE $DB" >/dev/null

  # -R writes standby.signal and primary_conninfo; -C -S a physical slot so
  # the primary keeps every WAL segment the standby has not received.
  runuser -u postgres -- "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$P_PORT" -U postgres \
    -D "$D/standby" -R -X stream -C -S standby -c fast -N >"$D/basebackup.log" 2>&1
  pg_start standby "$S_PORT"
  wait_for "$S_PORT" "SELECT pg_is_in_recovery()" t
  wait_for "$P_PORT" \
    "SELECT state FROM pg_stat_replication WHERE application_name = 'standby'" streaming

  if [[ $sync == 1 ]]; then
    # Only once the standby streams: before that every commit would wait.
    psql_at "$P_PORT" "ALTER SYSTEM SET synchronous_standby_names = 'standby'" >/dev/null
    psql_at "$P_PORT" "ALTER SYSTEM SET synchronous_commit = on" >/dev/null
    psql_at "$P_PORT" "SELECT pg_reload_conf()" >/dev/null
    wait_for "$P_PORT" \
      "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'" sync
  fi

  cat >"$D/env.sh" <<ENV
export RACEWAY_TEST_CLUSTER_PRIMARY_URL=postgresql://postgres@127.0.0.1:$P_PORT/$DB
export RACEWAY_TEST_CLUSTER_STANDBY_URL=postgresql://postgres@127.0.0.1:$S_PORT/$DB
export RACEWAY_TEST_CLUSTER_FAILOVER_URL='postgresql://postgres@127.0.0.1:$P_PORT,127.0.0.1:$S_PORT/$DB?target_session_attrs=read-write'
ENV
  mode=async
  [[ $sync == 1 ]] && mode=sync
  echo "pg_cluster: primary :$P_PORT, standby :$S_PORT ($mode; env in $D/env.sh)"
  ;;
stop)
  [[ -d "$D" ]] || exit 0
  pg_stop standby
  pg_stop primary
  ;;
kill-primary)
  pid=$(head -n 1 "$D/primary/postmaster.pid")
  # Read the children before anything dies: once the postmaster is gone
  # they are re-parented and pgrep -P no longer finds them.
  mapfile -t children < <(pgrep -P "$pid" || true)
  kill -9 "$pid" "${children[@]}" 2>/dev/null || true
  touch "$D/primary.killed"
  for _ in $(seq 1 200); do
    alive=0
    # A dead process may linger as a zombie until init reaps it: gone or
    # state Z both mean it runs no more.
    for p in "$pid" "${children[@]}"; do
      state=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null || true)
      [[ -n "$state" && "$state" != Z ]] && alive=1
    done
    [[ $alive == 0 ]] && exit 0
    sleep 0.01
  done
  echo "pg_cluster: primary processes still alive after kill -9" >&2
  exit 1
  ;;
promote)
  ports
  start=$(now_ms)
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$D/standby" -w -t 60 promote >/dev/null
  # txid_current() assigns a transaction id: refused while in recovery.
  for _ in $(seq 1 600); do
    psql_at "$S_PORT" "SELECT txid_current()" >/dev/null 2>&1 &&
      { echo "promoted in $(($(now_ms) - start)) ms"; exit 0; }
    sleep 0.05
  done
  echo "pg_cluster: the promoted standby does not accept writes; see $D/standby.log" >&2
  exit 1
  ;;
pause-replay)
  ports; psql_at "$S_PORT" "SELECT pg_wal_replay_pause()" >/dev/null ;;
resume-replay)
  ports; psql_at "$S_PORT" "SELECT pg_wal_replay_resume()" >/dev/null ;;
detach-standby)
  # No primary_conninfo: the walreceiver stops and is not restarted.
  ports
  psql_at "$S_PORT" "ALTER SYSTEM SET primary_conninfo = ''" >/dev/null
  psql_at "$S_PORT" "SELECT pg_reload_conf()" >/dev/null
  wait_for "$S_PORT" "SELECT count(*) FROM pg_stat_wal_receiver" 0
  ;;
*)
  echo "usage: pg_cluster.sh start DIR [--sync] |" \
    "stop|kill-primary|promote|pause-replay|resume-replay|detach-standby DIR" >&2
  exit 2 ;;
esac
