#!/usr/bin/env bash
# HTTP requests per second: `examples/web_server` (minirt, release) against its tokio twin
# (`benches/http_tokio.rs`, the same `GET /` handler and connection loop), each under
# `wrk -t1 -c50 -d5s http://ADDR/`. Runs are interleaved (minirt, tokio, minirt, ...) and the
# median of each is reported, with the ratio minirt/tokio (above 1: minirt serves more).
#
#   bash benches/http.sh              # 3 rounds of each (about 35 s)
#   ROUNDS=1 bash benches/http.sh     # one round
#
# Skips, with a message and exit 0, when `wrk` is missing (Debian: apt-get install wrk) or
# when `examples/web_server.rs` is not in this tree yet. Writes target/minirt-bench/http.md.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-50}

if ! command -v wrk >/dev/null 2>&1; then
  echo "http.sh: skipped: wrk is missing (apt-get install wrk)"
  exit 0
fi
if [ ! -f examples/web_server.rs ]; then
  echo "http.sh: skipped: examples/web_server.rs is not in this tree yet"
  exit 0
fi

cargo build --release --example web_server
cargo bench --bench http_tokio --no-run
tokio_bin=$(cargo bench --bench http_tokio --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*http_tokio[^"]*\)".*/\1/p' | tail -1)
[ -x "$tokio_bin" ] || { echo "http.sh: cannot find the http_tokio binary"; exit 1; }

out=target/minirt-bench
mkdir -p "$out"
tmp=$(mktemp -d)
. benches/server.sh
trap 'stop_server; rm -rf "$tmp"' EXIT

# Prints the requests per second of one wrk run against $addr.
measure() {
  wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "http://$addr/" >"$tmp/wrk.txt"
  if grep -q "Non-2xx" "$tmp/wrk.txt"; then
    echo "http.sh: non-2xx answers:" >&2; cat "$tmp/wrk.txt" >&2; exit 1
  fi
  sed -n 's/^Requests\/sec: *//p' "$tmp/wrk.txt"
}

for round in $(seq "$ROUNDS"); do
  start_server target/release/examples/web_server --addr 127.0.0.1:0
  echo "$(measure)" >>"$tmp/minirt"
  stop_server
  start_server "$tokio_bin" --serve --addr 127.0.0.1:0
  echo "$(measure)" >>"$tmp/tokio"
  stop_server
  echo "round $round: minirt $(tail -1 "$tmp/minirt") req/s, tokio $(tail -1 "$tmp/tokio") req/s"
done

median() { sort -g "$1" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
m=$(median "$tmp/minirt")
t=$(median "$tmp/tokio")
ratio=$(awk -v m="$m" -v t="$t" 'BEGIN {printf "%.2f", m / t}')
{
  echo "# HTTP: GET / under wrk -t1 -c$CONNECTIONS -d$DURATION"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- machine: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) CPUs"
  echo "- command: \`bash benches/http.sh\` (ROUNDS=$ROUNDS, median of each)"
  echo
  echo "| server | requests/s (median) | all rounds | minirt/tokio |"
  echo "|---|---:|---|---:|"
  echo "| minirt (examples/web_server) | $m | $(paste -sd' ' "$tmp/minirt") | $ratio |"
  echo "| tokio current_thread (benches/http_tokio.rs) | $t | $(paste -sd' ' "$tmp/tokio") | |"
} >"$out/http.md"
cat "$out/http.md"
