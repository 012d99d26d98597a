#!/usr/bin/env bash
# Load test of the web tier with wrk on loopback, against PostgreSQL with a realistic day loaded.
#
#   tests/services.sh bash benchmarks/load.sh
#   SERVICES_DIR=/tmp/load-services TEST_PG_PORT=54800 TEST_REDIS_PORT=64300 tests/services.sh bash benchmarks/load.sh
#
# A fresh database `coolpapers_load` on the server of TEST_DATABASE_URL (tests/services.sh sets it)
# gets a generated day of LOAD_PAPERS papers with random unit vectors (benchmarks/loaddata.py); the
# FAISS index is built by `coolpapers reindex`. Then, for each server command line of LOAD_SERVERS:
#   uvicorn:   .venv/bin/uvicorn app.main:app --workers $LOAD_WORKERS
#   gunicorn:  .venv/bin/gunicorn -k uvicorn.workers.UvicornWorker -w $LOAD_WORKERS  (when installed)
# each endpoint is warmed up, then driven by `wrk -t$LOAD_THREADS -c$LOAD_CONNECTIONS -d$LOAD_SECONDS
# --latency --timeout $LOAD_TIMEOUT`: the listing page /arxiv/cs.LG, a paper page (50 papers in
# turn), the search page (8 queries in turn, hybrid: keyword + the real embedding model) and
# /api/v1/listings/cs.LG, each request with `Accept-Encoding: gzip` as browsers send it. One line per endpoint: the p50 of one connection alone (the service
# time: 5 s of `wrk -c1`), then under load requests/s, p50/p99 latency, requests, non-2xx answers,
# socket errors, timeouts, errors the server logged, and the 1-minute load average (other
# processes on a small machine skew every figure).
# Target on a 2-core machine: 0 errors and 0 timeouts; listing p99 < 100 ms.
#
# LOAD_KEEP=1 keeps the work folder (server logs, wrk outputs).
# The per-client search limit (RATE_SEARCH_PER_MINUTE) is lifted for the run: wrk is one client,
# and the point is the server's capacity, not the limiter's answer.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
: "${TEST_DATABASE_URL:?run it under tests/services.sh, which starts PostgreSQL and sets TEST_DATABASE_URL}"
SECONDS_EACH=${LOAD_SECONDS:-30}
CONNECTIONS=${LOAD_CONNECTIONS:-100}
THREADS=${LOAD_THREADS:-2}
TIMEOUT=${LOAD_TIMEOUT:-2s}
PAPERS=${LOAD_PAPERS:-1000}
WORKERS=${LOAD_WORKERS:-2}
SERVERS=${LOAD_SERVERS:-uvicorn gunicorn}
ENDPOINTS=${LOAD_ENDPOINTS:-listing paper search api_listings}
PORT=${LOAD_PORT:-8765}
BIN=$ROOT/.venv/bin

if ! command -v wrk >/dev/null; then
  echo "installing wrk from Debian's packages" >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >/dev/null; else sudo apt-get install -y -qq wrk >/dev/null; fi
fi

WORK=$(mktemp -d /tmp/coolpapers-load.XXXXXX)
SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID"
    for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}
trap 'stop_server; [ -n "${LOAD_KEEP:-}" ] && echo "kept $WORK" || rm -rf "$WORK"' EXIT

export DATABASE_URL=${TEST_DATABASE_URL%/*}/coolpapers_load
export DATA_DIR=$WORK/data
export LOG_LEVEL=WARNING RATE_SEARCH_PER_MINUTE=1000000000
unset REDIS_URL LLM_BASE_URL LLM_API_KEY LLM_MODEL ADMIN_TOKEN

load_1m() { cut -d' ' -f1 /proc/loadavg; }

echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load average $(load_1m)"
echo "wrk: $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2); $THREADS threads, $CONNECTIONS connections, ${SECONDS_EACH}s each, timeout $TIMEOUT"
echo "postgresql: $("$BIN/python" -c "
from sqlalchemy import text; from app.store.db import make_engine
with make_engine('$TEST_DATABASE_URL').connect() as c: print(c.execute(text('SHOW server_version')).scalar())")"
echo "data: $(PYTHONPATH=benchmarks "$BIN/python" benchmarks/loaddata.py --url "$DATABASE_URL" --size "$PAPERS" --scripts "$WORK/wrk")"
echo "$("$BIN/coolpapers" reindex)"

start_server() { # kind
  local log=$WORK/server-$1.log
  case $1 in
    uvicorn) "$BIN/uvicorn" app.main:app --host 127.0.0.1 --port "$PORT" --workers "$WORKERS" --log-level warning >"$log" 2>&1 & ;;
    gunicorn) "$BIN/gunicorn" -k uvicorn.workers.UvicornWorker -w "$WORKERS" -b "127.0.0.1:$PORT" --log-level warning app.main:app >"$log" 2>&1 & ;;
    *) echo "unknown server $1" >&2; return 1 ;;
  esac
  SERVER_PID=$!
  for _ in $(seq 300); do
    curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && { wait_for_models; return 0; }
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; return 1; }
    sleep 0.1
  done
  echo "$1 did not answer /healthz in 30 s" >&2; cat "$log" >&2; return 1
}

# Measure processes at work, not loading the model in the background (EMBED_PRELOAD): 20 answers in
# a row from /readyz, spread over the workers, none "loading".
wait_for_models() {
  local settled=0
  for _ in $(seq 1200); do
    if curl -s "http://127.0.0.1:$PORT/readyz" | grep -q '"model":"loading"'; then settled=0; else settled=$((settled + 1)); fi
    [ "$settled" -ge 20 ] && return 0
    sleep 0.1
  done
  echo "the model was still loading after 120 s" >&2; return 1
}

command_line() {
  case $1 in
    uvicorn) echo ".venv/bin/uvicorn app.main:app --workers $WORKERS" ;;
    gunicorn) echo ".venv/bin/gunicorn -k uvicorn.workers.UvicornWorker -w $WORKERS app.main:app" ;;
  esac
}

warm_up() { # endpoint: every worker loads what the endpoint needs (the embedding model for search)
  local first; first=$(cat "$WORK/wrk/$1.first")
  local code; code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 120 "http://127.0.0.1:$PORT$first")
  [ "$code" = 200 ] || { echo "$1: $first answered HTTP $code" >&2; return 1; }
  seq $((WORKERS * 8)) | xargs -P "$((WORKERS * 4))" -I{} curl -s -o /dev/null --max-time 120 "http://127.0.0.1:$PORT$first"
  wrk -t1 -c"$((WORKERS * 4))" -d3s --timeout 30s -s "$WORK/wrk/$1.lua" "http://127.0.0.1:$PORT" >/dev/null
}

server_errors() { grep -c -E '"level": "(error|critical)"|Traceback' "$1" || true; }

p50_alone() { # endpoint
  wrk -t1 -c1 -d5s --timeout 30s --latency -s "$WORK/wrk/$1.lua" "http://127.0.0.1:$PORT" |
    awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /m$/) return v * 60000; return v * 1000 }
         /^ +50%/ { printf "%.1f", ms($2) }'
}

summarize() { # endpoint wrk-output load server-errors p50-alone
  awk -v name="$1" -v load="$3" -v logged="$4" -v alone="$5" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /m$/) return v * 60000; return v * 1000 }
    /Requests\/sec:/ { rps = $2 }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    / requests in / { total = $1 }
    /Socket errors:/ { gsub(",", ""); socket = $4 + $6 + $8; timeouts = $10 }
    /Non-2xx or 3xx responses:/ { non2xx = $5 }
    END { printf "%-13s %9s %9.1f %9.1f %9.1f %9d %7d %7d %8d %7d %6s\n", name, alone, rps, p50, p99, total, non2xx, socket, timeouts, logged, load }
  ' "$2"
}

for server in $SERVERS; do
  if [ "$server" = gunicorn ] && [ ! -x "$BIN/gunicorn" ]; then
    echo; echo "gunicorn: not installed (.venv/bin/pip install gunicorn), skipped"; continue
  fi
  start_server "$server"
  echo
  echo "$(command_line "$server")"
  printf "%-13s %9s %9s %9s %9s %9s %7s %7s %8s %7s %6s\n" endpoint "alone ms" "req/s" "p50 ms" "p99 ms" requests non-2xx socket timeouts logged load
  for endpoint in $ENDPOINTS; do
    warm_up "$endpoint"
    alone=$(p50_alone "$endpoint")
    before=$(server_errors "$WORK/server-$server.log")
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --timeout "$TIMEOUT" --latency \
      -s "$WORK/wrk/$endpoint.lua" "http://127.0.0.1:$PORT" >"$WORK/$server-$endpoint.txt"
    after=$(server_errors "$WORK/server-$server.log")
    summarize "$endpoint" "$WORK/$server-$endpoint.txt" "$(load_1m)" "$((after - before))" "$alone" |
      tee -a "$WORK/$server.rows"
  done
  awk '$1 == "listing" { p99 = $5 } { bad += $7 + $8 + $9 + $10 }
       END { if (p99 == "") { print "targets: not judged (the listing page was not measured)"; exit }
             verdict = (bad == 0 && p99 < 100) ? "met" : "missed"
             printf "targets (0 errors, 0 timeouts, listing p99 < 100 ms): %s (listing p99 %s ms; %d errors and timeouts)\n", verdict, p99, bad }' \
    "$WORK/$server.rows"
  stop_server
  # What the server logged as errors, if anything (first three kinds).
  grep -E '"level": "(error|critical)"' "$WORK/server-$server.log" | sed -E 's/.*"msg": "([^"]{0,160}).*/  logged: \1/' |
    sort | uniq -c | sort -rn | head -3 || true
done
