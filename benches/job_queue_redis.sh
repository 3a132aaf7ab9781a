#!/usr/bin/env bash
# Jobs per second of examples/job_queue over Redis: 1, 2 and 4 worker processes (8 slots each)
# running light `add` jobs from one submitter, 3 runs each. Then, if Python can import celery
# and redis, a Celery worker (prefork, -c 1, 2 and 4) on the same Redis (database 1), fed
# `add.s(i, i)` as one group, 2 runs each.
#
#   bash benches/job_queue_redis.sh            # JOBS=20000 CELERY_JOBS=5000 PYTHON=python3
#                                              # CELERY_START=60 (s to wait for its worker)
#
# Starts its own redis-server on a free port, without persistence, and stops it at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-20000}
CELERY_JOBS=${CELERY_JOBS:-5000}
PYTHON=${PYTHON:-python3}

command -v redis-server >/dev/null || { echo "redis-server is not installed: skipped"; exit 0; }
cargo build -q --release --example job_queue
BIN=target/release/examples/job_queue
WORK=$(mktemp -d)
PORT=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" >/dev/null &
REDIS=$!
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  kill "$REDIS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.1; done
URL=redis://127.0.0.1:$PORT
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

for workers in 1 2 4; do
  PIDS=()
  for _ in $(seq "$workers"); do
    "$BIN" worker --broker "$URL" >/dev/null &
    PIDS+=($!)
  done
  for run in 1 2 3; do
    line=$("$BIN" submit --broker "$URL" --jobs "$JOBS" --task add 2>/dev/null | grep '^jobs:')
    echo "minirt  workers=$workers run=$run  $line"
  done
  for pid in "${PIDS[@]}"; do kill -INT "$pid"; done
  wait "${PIDS[@]}"
  PIDS=()
done

if ! "$PYTHON" -c 'import celery, redis' 2>/dev/null; then
  echo "celery: skipped: $PYTHON cannot import celery and redis (pip install celery redis)"
  exit 0
fi
cat >"$WORK/tasks.py" <<PY
from celery import Celery
url = "$URL/1"
app = Celery("tasks", broker=url, backend=url)
app.conf.update(worker_prefetch_multiplier=16, task_acks_late=True)

@app.task
def add(x, y):
    return x + y
PY
cat >"$WORK/submit.py" <<'PY'
import sys, time
from celery import group
from tasks import add
n = int(sys.argv[1])
start = time.time()
result = group(add.s(i, i) for i in range(n)).apply_async()
assert result.get(timeout=600) == [2 * i for i in range(n)]
took = time.time() - start
print(f"jobs: {n} time: {took:.2f}s rate: {n / took:.0f} jobs/s")
PY
# A Celery worker that dies at start (a module missing) must not make us wait for ever: wait
# for its ping for CELERY_START seconds at most, and show its log if it is gone or silent.
CELERY_START=${CELERY_START:-60}
for concurrency in 1 2 4; do
  (cd "$WORK" && exec "$PYTHON" -m celery -A tasks worker -P prefork -c "$concurrency" \
    --loglevel=WARNING >"$WORK/celery.log" 2>&1) &
  PIDS=($!)
  started=$SECONDS
  until (cd "$WORK" && timeout 10 "$PYTHON" -m celery -A tasks inspect ping >/dev/null 2>&1); do
    if ! kill -0 "${PIDS[0]}" 2>/dev/null || (( SECONDS - started > CELERY_START )); then
      echo "celery: the worker (-c $concurrency) died or did not answer within ${CELERY_START} s; its log:"
      sed 's/^/  /' "$WORK/celery.log" | tail -n 40
      exit 1
    fi
    sleep 0.5
  done
  for run in 1 2; do
    echo "celery  -c $concurrency run=$run  $(cd "$WORK" && timeout 900 "$PYTHON" submit.py "$CELERY_JOBS")"
  done
  kill -TERM "${PIDS[0]}"
  wait "${PIDS[0]}" || true
  PIDS=()
done
