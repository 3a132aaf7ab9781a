#!/usr/bin/env bash
# Issue 14's outside-process echo test: a line echo server on minirt and its tokio
# current_thread twin (`benches/echo_server.rs`, the same `BufReader::read_line` + `write_all`
# handler), each loaded by `benches/echo_load.rs` from a separate process: CONNECTIONS blocking
# client threads ping-pong a 128-byte line for DURATION seconds. Runs are interleaved (minirt,
# tokio, minirt, ...), a fresh server each run; prints round trips/s, p50, p99 and p99.9 for
# every run, the medians, and minirt's ratios to tokio. Loopback only; every process is bounded
# in time (the load by DURATION, the server by its watchdog and `timeout`). On an idle
# machine with two CPUs, the server and the load generator are pinned to different ones
# (`pin_setup` in benches/server.sh), and the report says whether they were.
#
#   bash benches/echo_latency.sh                      # 3 rounds x 5 s x 64 connections
#   ROUNDS=5 DURATION=10 bash benches/echo_latency.sh
#   PIN=1 bash benches/echo_latency.sh               # pin even on a busy machine (PIN=0: never)
#
# Writes target/minirt-bench/echo_latency.md. On a loaded machine the numbers say little.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-64}

# The two binaries, built once (release, as `cargo bench` builds them).
bins=$(cargo bench --bench echo_server --bench echo_load --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p')
server_bin=$(grep '/echo_server-' <<<"$bins" | tail -1)
load_bin=$(grep '/echo_load-' <<<"$bins" | tail -1)
[ -x "$server_bin" ] && [ -x "$load_bin" ] ||
  { echo "echo_latency.sh: cannot find the echo_server and echo_load binaries"; exit 1; }

out=target/minirt-bench
mkdir -p "$out"
tmp=$(mktemp -d)
. benches/server.sh
trap 'stop_server; rm -rf "$tmp"' EXIT
pin_setup
echo "echo_latency.sh: $pinning"

# One run against runtime $1: appends its echo_load line to $tmp/$1.
run() {
  start_server "${pin_server[@]}" timeout $((DURATION + 60)) "$server_bin" --serve "$1" \
    --addr 127.0.0.1:0 --connections "$CONNECTIONS" --max-seconds $((DURATION + 30))
  "${pin_load[@]}" timeout $((DURATION + 30)) "$load_bin" --addr "$addr" \
    --connections "$CONNECTIONS" --seconds "$DURATION" >>"$tmp/$1"
  # The server exits by itself once every client has closed.
  wait "$server_pid" || { echo "echo_latency.sh: the $1 server failed:"; cat "$tmp/server.log"; exit 1; }
  server_pid=
}

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "$2"; }
median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

for round in $(seq "$ROUNDS"); do
  for rt in minirt tokio; do
    run "$rt"
    echo "round $round $rt: $(tail -1 "$tmp/$rt")"
  done
done

{
  echo "# Line echo under $CONNECTIONS blocking client threads, from another process"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- machine: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- command: \`bash benches/echo_latency.sh\` (ROUNDS=$ROUNDS, DURATION=${DURATION}s, CONNECTIONS=$CONNECTIONS; a 128-byte line per round trip)"
  echo "- pinning: $pinning"
  echo
  echo "| server | round trips/s | p50 (µs) | p99 (µs) | p99.9 (µs) |"
  echo "|---|---:|---:|---:|---:|"
  for rt in minirt tokio; do
    paste -d' ' <(field round_trips_per_s "$tmp/$rt") <(field p50_us "$tmp/$rt") \
      <(field p99_us "$tmp/$rt") <(field p999_us "$tmp/$rt") |
      awk -v rt="$rt" '{printf "| %s, round %d | %s | %s | %s | %s |\n", rt, NR, $1, $2, $3, $4}'
  done
  for rt in minirt tokio; do
    echo "| **$rt, median** | $(field round_trips_per_s "$tmp/$rt" | median) | $(field p50_us "$tmp/$rt" | median) | $(field p99_us "$tmp/$rt" | median) | $(field p999_us "$tmp/$rt" | median) |"
  done
  echo
  ratio() {
    awk -v m="$(field "$1" "$tmp/minirt" | median)" -v t="$(field "$1" "$tmp/tokio" | median)" \
      'BEGIN {printf "%.3f", m / t}'
  }
  # The verdicts compare the exact ratios, not the rounded ones: 0.9487 misses 0.95.
  verdict() { # field op bound
    awk -v m="$(field "$1" "$tmp/minirt" | median)" -v t="$(field "$1" "$tmp/tokio" | median)" \
      -v op="$2" -v b="$3" 'BEGIN {
        r = m / t; ok = (op == ">=") ? (r >= b) : (r <= b); printf "%s", ok ? "met" : "missed" }'
  }
  echo "minirt / tokio, medians: throughput $(ratio round_trips_per_s)x (issue 14: at least 0.95," \
    "$(verdict round_trips_per_s '>=' 0.95)), p99 $(ratio p99_us)x (issue 14: at most 1.25," \
    "$(verdict p99_us '<=' 1.25)), p50 $(ratio p50_us)x, p99.9 $(ratio p999_us)x."
} >"$out/echo_latency.md"
cat "$out/echo_latency.md"
