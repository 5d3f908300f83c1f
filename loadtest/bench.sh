#!/usr/bin/env bash
# Runs one scenario against fresh classhub server process(es) the way docs/performance.md
# measures: server pinned to core 0 (`taskset -c 0`), generator to core 1.
#
#   loadtest/bench.sh STORE SERVERS SCENARIO [loadtest options...]
#
# STORE   pg-redis  a new PostgreSQL database (dropped afterwards) + Redis broker
#         embedded  the embedded default: SQLite file, in-process broker
# SERVERS number of server processes (more than 1 needs pg-redis); by default all on core 0,
#         set SERVER_CPUS="0 1" to pin process i to the i-th entry.
# Environment: PYTHON (default /work/venv/bin/python or python3), GEN_CPUS (default 1),
#         PG (default postgresql://postgres@127.0.0.1:5432), REDIS (default redis://127.0.0.1:6379/0),
#         SERVER_ENV (extra VAR=value pairs for the server), PYSPY_SECS (profile the first
#         server with py-spy for that many seconds once the run starts; SVG next to the results;
#         PYSPY_AT=first-publish starts it when the server has stored its first publish,
#         PYSPY_DELAY seconds after that or after the start; PYSPY_FORMAT, PYSPY_OUT, PYSPY_RATE),
#         PERF_SECS (the same, with `perf record -e cpu-clock -g` of the first server: kernel
#         time too; PERF_OUT, default /tmp/classhub-perf-$SCENARIO.data),
#         NICE (e.g. -10: run server and generator at that priority on a machine others share).
set -euo pipefail
cd "$(dirname "$0")/.."

STORE=${1:?store: pg-redis or embedded}
SERVERS=${2:?number of server processes}
SCENARIO=${3:?scenario}
shift 3
# The server's code: this checkout, or SERVER_DIR (another checkout, e.g. a worktree of an
# older commit) for A/B runs with the same generator (give the generator
# --setup-cmd "env -C $SERVER_DIR $PYTHON -m web.cli" so the bot accounts fit that schema).
SERVER_DIR=${SERVER_DIR:-$PWD}
PYTHON=${PYTHON:-$( [[ -x /work/venv/bin/python ]] && echo /work/venv/bin/python || echo python3 )}
GEN_CPUS=${GEN_CPUS:-1}
read -r -a CPUS <<< "${SERVER_CPUS:-0}"
PG=${PG:-postgresql://postgres@127.0.0.1:5432}
REDIS=${REDIS:-redis://127.0.0.1:6379/0}
TAG=$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
WORK=$(mktemp -d "/tmp/classhub-bench-$TAG.XXXX")

export CLASSHUB_VAR_DIR="$WORK/var"
export SECRET_KEY="bench-secret-key-$TAG-0123456789abcdefghijklmnop"
export DATA_KEY="bench-data-key-$TAG-0123456789abcdefghijklmnop"
export REDIS_PREFIX="classhub-bench-$TAG"
DB=""
case "$STORE" in
  pg-redis)
    DB="lt_$TAG"
    "$PYTHON" - "$PG" "$DB" <<'EOF'
import asyncio, sys, asyncpg
async def main(url, name):
    c = await asyncpg.connect(url + "/postgres")
    await c.execute(f'CREATE DATABASE "{name}"')
    await c.close()
asyncio.run(main(*sys.argv[1:]))
EOF
    export DATABASE_URL="$PG/$DB" REDIS_URL="$REDIS" ;;
  embedded)
    export DATABASE_URL="sqlite+aiosqlite:///$WORK/var/classhub.db"
    unset REDIS_URL || true ;;
  *) echo "unknown store $STORE" >&2; exit 2 ;;
esac

PIDS=()
URLS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n "$DB" ]]; then
    "$PYTHON" - "$PG" "$DB" <<'EOF' || true
import asyncio, sys, asyncpg
async def main(url, name):
    c = await asyncpg.connect(url + "/postgres")
    await c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await c.close()
asyncio.run(main(*sys.argv[1:]))
EOF
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

(cd "$SERVER_DIR" && "$PYTHON" -m web.cli migrate >/dev/null)
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORTS=()
ORIGINS=""
for ((i = 0; i < SERVERS; i++)); do
  PORTS+=("$(free_port)")
  ORIGINS+="${ORIGINS:+,}http://127.0.0.1:${PORTS[$i]}"
done
export ALLOWED_ORIGINS="$ORIGINS"  # the bots' Origin is the first server's
for ((i = 0; i < SERVERS; i++)); do
  port=${PORTS[$i]}
  cpu=${CPUS[$((i < ${#CPUS[@]} ? i : ${#CPUS[@]} - 1))]}
  # shellcheck disable=SC2086
  env PUBLIC_URL="http://127.0.0.1:$port" ${SERVER_ENV:-} \
    nice -n "${NICE:-0}" taskset -c "$cpu" env -C "$SERVER_DIR" "$PYTHON" -m web.cli serve --port "$port" --log-level warning \
    >"$WORK/server-$i.log" 2>&1 &
  PIDS+=($!)
  URLS+=(--url "http://127.0.0.1:$port")
  for _ in $(seq 1 150); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$WORK/server-$i.log"; exit 1; }
done
SERVER_PIDS=()
for pid in "${PIDS[@]}"; do SERVER_PIDS+=(--server-pid "$pid"); done

echo "# $(date -u +%FT%TZ) store=$STORE servers=$SERVERS cpus=${CPUS[*]} gen_cpus=$GEN_CPUS nice=${NICE:-0} uptime:$(uptime)"
SPY=""
if [[ -n "${PYSPY_SECS:-}" ]]; then
  ( if [[ "${PYSPY_AT:-}" == first-publish ]]; then
      # Profile the run itself, not the sign-ins and handshakes before it: wait until the
      # first server has stored a publish (its /metrics counter), then PYSPY_DELAY more.
      until curl -fs "${URLS[1]}/metrics" 2>/dev/null | grep -q '^classhub_ws_publishes_total{result="ok"}'; do sleep 0.05; done
    fi
    sleep "${PYSPY_DELAY:-3}"; "${PYSPY:-$(dirname "$PYTHON")/py-spy}" record --pid "${PIDS[0]}" --duration "$PYSPY_SECS" --rate "${PYSPY_RATE:-250}" \
      --format "${PYSPY_FORMAT:-flamegraph}" --output "${PYSPY_OUT:-loadtest/results/profile-$SCENARIO-$TAG.svg}" \
      >/dev/null 2>&1 ) &
  SPY=$!
fi
PERF=""
if [[ -n "${PERF_SECS:-}" ]]; then
  ( until curl -fs "${URLS[1]}/metrics" 2>/dev/null | grep -q '^classhub_ws_publishes_total{result="ok"}'; do sleep 0.05; done
    sleep "${PYSPY_DELAY:-3}"; perf record -e cpu-clock -F 5000 -g -p "${PIDS[0]}" -o "${PERF_OUT:-/tmp/classhub-perf-$SCENARIO.data}" \
      -- sleep "$PERF_SECS" >/dev/null 2>&1 ) &
  PERF=$!
fi
status=0
nice -n "${NICE:-0}" taskset -c "$GEN_CPUS" "$PYTHON" -m loadtest "$SCENARIO" "${URLS[@]}" "${SERVER_PIDS[@]}" "$@" || status=$?
if [[ -n "$SPY" ]]; then wait "$SPY" 2>/dev/null || true; fi
if [[ -n "$PERF" ]]; then wait "$PERF" 2>/dev/null || true; fi
exit $status
