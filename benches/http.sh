#!/usr/bin/env bash
# HTTP requests per second, and the server's CPU time per request: `examples/web_server`
# (minirt, release) against its tokio twin (`benches/http_tokio.rs`, the same `GET /` handler
# and connection loop), each under `wrk -t1 -c50 -d5s http://ADDR/`, in two pairs:
#   - one thread: web_server against tokio's current_thread runtime;
#   - two threads (issue 15): `web_server --threads 2` (a runtime per thread, SO_REUSEPORT)
#     against tokio's multi-thread (work-stealing) runtime with 2 workers;
# and hyper (issue 25): `examples/hyper_server` (hyper through `minirt::hyper`) against its
# tokio twin (`benches/http_hyper_tokio.rs`: the same hyper, hyper-util auto builder and
# answer, with hyper-util's TokioExecutor/TokioTimer/TokioIo on tokio's current_thread
# runtime), each with hyper's header timer on (`header_read_timeout`, 10 s: a timer armed
# and disarmed per request) and off (`--header-timeout-secs 0`).
# Runs are interleaved and the median of each is reported, with the ratio minirt/tokio (above
# 1: minirt serves more). CPU time is the server process's user + system time during the run
# (/proc/PID/stat), over the requests wrk counted. On a 2-core machine wrk takes most of one
# core, so two server threads cannot both run flat out: CPU per request is the fairer figure.
#
#   bash benches/http.sh              # 3 rounds of each (about 2.5 min)
#   ROUNDS=1 bash benches/http.sh     # one round
#   ONLY=hyper bash benches/http.sh   # only the hyper pairs (ONLY=plain: only the others)
#
# Skips, with a message and exit 0, when `wrk` is missing (Debian: apt-get install wrk) or
# when `examples/web_server` is not in this tree yet. Writes target/minirt-bench/http.md.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-50}
ONLY=${ONLY:-}
case "$ONLY" in "" | hyper | plain) ;; *) echo "http.sh: ONLY is hyper or plain"; exit 2 ;; esac
plain() { [ "$ONLY" != hyper ]; }
hyper() { [ "$ONLY" != plain ]; }

if ! command -v wrk >/dev/null 2>&1; then
  echo "http.sh: skipped: wrk is missing (apt-get install wrk)"
  exit 0
fi
if [ ! -f examples/web_server.rs ] && [ ! -f examples/web_server/main.rs ]; then
  echo "http.sh: skipped: examples/web_server is not in this tree yet"
  exit 0
fi

# The path of bench binary $1, built.
bench_bin() {
  cargo bench --bench "$1" --no-run >&2
  local bin
  bin=$(cargo bench --bench "$1" --no-run --message-format=json 2>/dev/null |
    sed -n "s/.*\"executable\":\"\([^\"]*$1-[^\"]*\)\".*/\1/p" | tail -1)
  [ -x "$bin" ] || { echo "http.sh: cannot find the $1 binary" >&2; exit 1; }
  echo "$bin"
}
cargo build --release --example web_server --example hyper_server --features hyper
tokio_bin=$(bench_bin http_tokio)
hyper_tokio_bin=$(bench_bin http_hyper_tokio)

out=target/minirt-bench
mkdir -p "$out"
tmp=$(mktemp -d)
. benches/server.sh
trap 'stop_server; rm -rf "$tmp"' EXIT

ticks=$(getconf CLK_TCK)
# The server's CPU time so far, in clock ticks (utime + stime: fields 14 and 15).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }

# Prints "REQ_PER_SEC CPU_US_PER_REQUEST" for one wrk run against $addr.
measure() {
  local before after
  before=$(cpu_ticks)
  wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "http://$addr/" >"$tmp/wrk.txt"
  after=$(cpu_ticks)
  if grep -q "Non-2xx" "$tmp/wrk.txt"; then
    echo "http.sh: non-2xx answers:" >&2; cat "$tmp/wrk.txt" >&2; exit 1
  fi
  local rps requests
  rps=$(sed -n 's/^Requests\/sec: *//p' "$tmp/wrk.txt")
  requests=$(awk '/requests in/ {print $1}' "$tmp/wrk.txt")
  awk -v r="$rps" -v n="$requests" -v b="$before" -v a="$after" -v t="$ticks" \
    'BEGIN {printf "%s %.2f\n", r, (a - b) / t * 1e6 / n}'
}

# run NAME CMD...: one measured run of CMD, appended to $tmp/NAME.
run() {
  local name=$1
  shift
  start_server "$@"
  measure >>"$tmp/$name"
  stop_server
}

hyper_minirt=target/release/examples/hyper_server
for round in $(seq "$ROUNDS"); do
  if plain; then
    run minirt target/release/examples/web_server --addr 127.0.0.1:0
    run tokio "$tokio_bin" --serve --addr 127.0.0.1:0
    run minirt2 target/release/examples/web_server --addr 127.0.0.1:0 --threads 2
    run tokio2 "$tokio_bin" --serve --addr 127.0.0.1:0 --workers 2
    echo "round $round (req/s, CPU us/request):" \
      "minirt $(tail -1 "$tmp/minirt"), tokio $(tail -1 "$tmp/tokio")," \
      "minirt --threads 2 $(tail -1 "$tmp/minirt2"), tokio 2 workers $(tail -1 "$tmp/tokio2")"
  fi
  if hyper; then
    run hyper_minirt "$hyper_minirt" --addr 127.0.0.1:0
    run hyper_tokio "$hyper_tokio_bin" --serve --addr 127.0.0.1:0
    run hyper_minirt_off "$hyper_minirt" --addr 127.0.0.1:0 --header-timeout-secs 0
    run hyper_tokio_off "$hyper_tokio_bin" --serve --addr 127.0.0.1:0 --header-timeout-secs 0
    echo "round $round, hyper (req/s, CPU us/request):" \
      "minirt $(tail -1 "$tmp/hyper_minirt"), tokio $(tail -1 "$tmp/hyper_tokio")," \
      "no timer: minirt $(tail -1 "$tmp/hyper_minirt_off"), tokio $(tail -1 "$tmp/hyper_tokio_off")"
  fi
done

# median FILE COLUMN
median() { awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
row() { # NAME LABEL [PEER]: a table row; with PEER, the ratios NAME/PEER
  local m c
  m=$(median "$tmp/$1" 1)
  c=$(median "$tmp/$1" 2)
  local ratio="" cpu_ratio=""
  if [ -n "${3:-}" ]; then
    ratio=$(awk -v m="$m" -v t="$(median "$tmp/$3" 1)" 'BEGIN {printf "%.2f", m / t}')
    cpu_ratio=$(awk -v m="$c" -v t="$(median "$tmp/$3" 2)" 'BEGIN {printf "%.2f", t / m}')
  fi
  echo "| $2 | $m | $c | $(awk '{print $1}' "$tmp/$1" | paste -sd' ') | $ratio | $cpu_ratio |"
}
{
  echo "# HTTP: GET / under wrk -t1 -c$CONNECTIONS -d$DURATION"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- machine: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) CPUs"
  echo "- command: \`bash benches/http.sh\` (ROUNDS=$ROUNDS, median of each)"
  echo
  echo "CPU us/request: the server's user + system CPU time over the requests served."
  echo "minirt/tokio: requests/s over tokio's; CPU ratio: tokio's CPU per request over minirt's"
  echo "(above 1: minirt spends less)."
  echo
  echo "| server | requests/s (median) | CPU us/request (median) | all rounds (req/s) | minirt/tokio | CPU ratio |"
  echo "|---|---:|---:|---|---:|---:|"
  if plain; then
    row minirt "minirt (examples/web_server)" tokio
    row tokio "tokio current_thread (benches/http_tokio.rs)"
    row minirt2 "minirt, web_server --threads 2" tokio2
    row tokio2 "tokio multi-thread, 2 workers (http_tokio --workers 2)"
  fi
  if hyper; then
    row hyper_minirt "hyper on minirt (examples/hyper_server), header timer on" hyper_tokio
    row hyper_tokio "hyper on tokio current_thread (benches/http_hyper_tokio.rs), timer on"
    row hyper_minirt_off "hyper on minirt, header timer off" hyper_tokio_off
    row hyper_tokio_off "hyper on tokio current_thread, timer off"
    echo
    echo "hyper's header timer (\`header_read_timeout\`, armed and disarmed per request): requests/s"
    echo "with the timer on over requests/s with it off (medians), and the same for CPU per request"
    echo "(off over on: below 1, the timer costs CPU)."
    echo
    echo "| runtime | timer on/off, requests/s | timer off/on, CPU per request |"
    echo "|---|---:|---:|"
    for rt in minirt tokio; do
      echo "| $rt | $(awk -v a="$(median "$tmp/hyper_$rt" 1)" -v b="$(median "$tmp/hyper_${rt}_off" 1)" \
        'BEGIN {printf "%.3f", a / b}') | $(awk -v a="$(median "$tmp/hyper_$rt" 2)" \
        -v b="$(median "$tmp/hyper_${rt}_off" 2)" 'BEGIN {printf "%.3f", b / a}') |"
    done
  fi
} >"$out/http.md"
cat "$out/http.md"
