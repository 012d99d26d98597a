#!/usr/bin/env bash
# Start throwaway PostgreSQL and Redis servers on loopback for the test suite, run a command with
# TEST_DATABASE_URL / TEST_REDIS_URL set, and stop the servers whatever happens.
# Usage: tests/services.sh COMMAND [ARGS...]   (TEST_PG_OPTIONS="-c shared_buffers=3GB" adds server options)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${SERVICES_DIR:-$ROOT/.ci-services}
PG_PORT=${TEST_PG_PORT:-54329}
REDIS_PORT=${TEST_REDIS_PORT:-63799}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

install_missing() {
  local missing=()
  pg_bin >/dev/null 2>&1 || missing+=(postgresql)
  command -v redis-server >/dev/null || missing+=(redis-server)
  [ -x /usr/bin/chromium ] || missing+=(chromium)  # the browser tests drive Debian's Chromium
  command -v docker-compose >/dev/null || missing+=(docker-compose)  # validates docker-compose.yml
  if ((${#missing[@]})); then
    echo "installing ${missing[*]} from Debian's packages" >&2
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }; done
  command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

# PostgreSQL refuses to run as root: the cluster belongs to `postgres` when we are root.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start_postgres() {
  local bin; bin=$(pg_bin)
  rm -rf "$STATE/pg" && mkdir -p "$STATE/pg"
  [ "$(id -u)" = 0 ] && chown -R postgres "$STATE/pg" && chmod 755 "$STATE"
  as_pg "$bin/initdb" -D "$STATE/pg/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
  as_pg "$bin/pg_ctl" -w -D "$STATE/pg/data" -l "$STATE/pg/log" \
    -o "-p $PG_PORT -k $STATE/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 ${TEST_PG_OPTIONS:-}" start >/dev/null
  "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres coolpapers_test
}

stop_postgres() {
  local bin; bin=$(pg_bin) || return 0
  [ -d "$STATE/pg/data" ] && as_pg "$bin/pg_ctl" -D "$STATE/pg/data" -m immediate stop >/dev/null 2>&1 || true
}

start_redis() {
  mkdir -p "$STATE/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --save "" --appendonly no \
    --dir "$STATE/redis" --pidfile "$STATE/redis/pid" --logfile "$STATE/redis/log"
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "redis did not start" >&2; return 1
}

stop_redis() {
  [ -f "$STATE/redis/pid" ] && kill "$(cat "$STATE/redis/pid")" 2>/dev/null || true
}

stop_all() { stop_redis; stop_postgres; }

install_missing
stop_all
trap stop_all EXIT
start_postgres
start_redis
export TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/coolpapers_test"
export TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
"$@"
