#!/usr/bin/env bash
# Throwaway test-database servers on free loopback ports.
#
#   tests/support/testdb.sh start DIR   # PostgreSQL 15, pgbouncer (transaction
#                                       # pooling), MariaDB; writes DIR/env.sh
#   tests/support/testdb.sh stop DIR    # stops all of them (idempotent)
#   tests/support/testdb.sh restart-postgres DIR | restart-mysql DIR
#
# DIR/env.sh exports RACEWAY_TEST_POSTGRES_URL, RACEWAY_TEST_SUPABASE_URL
# (through pgbouncer), RACEWAY_TEST_MYSQL_URL and RACEWAY_TEST_DB_DIR.
# Everything lives under DIR; nothing listens beyond 127.0.0.1.
set -euo pipefail

cmd=${1:?usage: testdb.sh start|stop|restart-postgres|restart-mysql DIR}
D=$(realpath -m "${2:?DIR required}")
PGBIN=/usr/lib/postgresql/15/bin

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

pg_start() {
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$D/pgdata" -l "$D/pglog/pg.log" \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $D/pgsock -c fsync=on -c max_connections=200" \
    -w -t 60 start >/dev/null
}
pg_stop() {
  [[ -f "$D/pgdata/postmaster.pid" ]] &&
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$D/pgdata" -m fast -w -t 60 stop >/dev/null || true
}
my_start() {
  mariadbd --no-defaults --user=mysql --datadir="$D/mydata" --socket="$D/myrun/mysqld.sock" \
    --port="$MY_PORT" --bind-address=127.0.0.1 --pid-file="$D/myrun/mysqld.pid" \
    --log-error="$D/myrun/err.log" --skip-log-bin --character-set-server=utf8mb4 \
    --collation-server=utf8mb4_unicode_ci --max-connections=300 \
    --innodb-buffer-pool-size=256M >/dev/null 2>&1 &
  for _ in $(seq 1 120); do
    mariadb-admin --no-defaults --socket="$D/myrun/mysqld.sock" -uroot ping >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "testdb: MariaDB did not start; see $D/myrun/err.log" >&2
  cat "$D/myrun/err.log" >&2 || true
  return 1
}
my_stop() {
  if [[ -f "$D/myrun/mysqld.pid" ]]; then
    local pid
    pid=$(cat "$D/myrun/mysqld.pid" 2>/dev/null || true)
    mariadb-admin --no-defaults --socket="$D/myrun/mysqld.sock" -uroot shutdown >/dev/null 2>&1 ||
      { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; } || true
    for _ in $(seq 1 60); do
      [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
  fi
}
bouncer_stop() {
  if [[ -f "$D/bouncer/pgbouncer.pid" ]]; then
    kill "$(cat "$D/bouncer/pgbouncer.pid")" 2>/dev/null || true
    rm -f "$D/bouncer/pgbouncer.pid"
  fi
}

case "$cmd" in
start)
  "$0" stop "$D" || true
  rm -rf "$D" && mkdir -p "$D"
  chmod 755 "$D"
  PG_PORT=$(free_port); MY_PORT=$(free_port); PGB_PORT=$(free_port)
  while [[ $MY_PORT == "$PG_PORT" ]]; do MY_PORT=$(free_port); done
  while [[ $PGB_PORT == "$PG_PORT" || $PGB_PORT == "$MY_PORT" ]]; do PGB_PORT=$(free_port); done
  echo "PG_PORT=$PG_PORT MY_PORT=$MY_PORT PGB_PORT=$PGB_PORT" > "$D/ports"

  # PostgreSQL
  mkdir -p "$D/pgdata" "$D/pglog" "$D/pgsock"
  chown postgres:postgres "$D/pgdata" "$D/pglog" "$D/pgsock"
  runuser -u postgres -- "$PGBIN/initdb" -D "$D/pgdata" -U postgres --auth=trust -E UTF8 \
    --locale=C.UTF-8 >"$D/pglog/initdb.log" 2>&1
  pg_start
  for db in raceway_pg raceway_sb raceway_tool; do
    runuser -u postgres -- psql -h "$D/pgsock" -p "$PG_PORT" -U postgres -qAt \
      -c "CREATE DATABASE $db" >/dev/null
  done

  # pgbouncer in transaction pooling mode (the Supabase pooler's mode).
  mkdir -p "$D/bouncer"
  cat >"$D/bouncer/pgbouncer.ini" <<INI
[databases]
raceway_sb = host=127.0.0.1 port=$PG_PORT dbname=raceway_sb user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
auth_type = any
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
unix_socket_dir =
pidfile = $D/bouncer/pgbouncer.pid
logfile = $D/bouncer/pgbouncer.log
ignore_startup_parameters = extra_float_digits,options
INI
  chown -R postgres:postgres "$D/bouncer"
  runuser -u postgres -- pgbouncer -d "$D/bouncer/pgbouncer.ini"

  # MariaDB
  mkdir -p "$D/mydata" "$D/myrun"
  chown mysql:mysql "$D/mydata" "$D/myrun"
  mariadb-install-db --no-defaults --datadir="$D/mydata" --user=mysql \
    --auth-root-authentication-method=socket --skip-test-db >"$D/myrun/install.log" 2>&1
  my_start
  mariadb --no-defaults --socket="$D/myrun/mysqld.sock" -uroot <<SQL
CREATE DATABASE raceway_my CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE raceway_tool CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER 'raceway'@'localhost' IDENTIFIED BY 'raceway';
CREATE USER 'raceway'@'127.0.0.1' IDENTIFIED BY 'raceway';
GRANT ALL ON *.* TO 'raceway'@'localhost';
GRANT ALL ON *.* TO 'raceway'@'127.0.0.1';
SQL

  # Wait for pgbouncer to answer.
  for _ in $(seq 1 60); do
    runuser -u postgres -- psql "postgresql://postgres@127.0.0.1:$PGB_PORT/raceway_sb" -qAt \
      -c "SELECT 1" >/dev/null 2>&1 && break
    sleep 0.5
  done

  cat >"$D/env.sh" <<ENV
export RACEWAY_TEST_DB_DIR=$D
export RACEWAY_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:$PG_PORT/raceway_pg
export RACEWAY_TEST_SUPABASE_URL=postgresql://postgres@127.0.0.1:$PGB_PORT/raceway_sb
export RACEWAY_TEST_MYSQL_URL=mysql://raceway:raceway@127.0.0.1:$MY_PORT/raceway_my
export RACEWAY_TEST_POSTGRES_TOOL_URL=postgresql://postgres@127.0.0.1:$PG_PORT/raceway_tool
export RACEWAY_TEST_MYSQL_TOOL_URL=mysql://raceway:raceway@127.0.0.1:$MY_PORT/raceway_tool
export RACEWAY_TEST_RESTART_POSTGRES="$(realpath "$0") restart-postgres $D"
export RACEWAY_TEST_RESTART_MYSQL="$(realpath "$0") restart-mysql $D"
export RACEWAY_TEST_STOP_POSTGRES="$(realpath "$0") stop-postgres $D"
export RACEWAY_TEST_START_POSTGRES="$(realpath "$0") start-postgres $D"
ENV
  echo "testdb: PostgreSQL :$PG_PORT, pgbouncer :$PGB_PORT, MariaDB :$MY_PORT (env in $D/env.sh)"
  ;;
stop)
  [[ -d "$D" ]] || exit 0
  bouncer_stop
  pg_stop
  my_stop
  ;;
restart-postgres)
  source "$D/ports"; pg_stop; pg_start ;;
stop-postgres)
  pg_stop ;;
start-postgres)
  source "$D/ports"; pg_start ;;
restart-mysql)
  source "$D/ports"; my_stop; my_start ;;
*)
  echo "usage: testdb.sh start|stop|restart-postgres|restart-mysql|stop-postgres|start-postgres DIR" >&2
  exit 2 ;;
esac
