#!/usr/bin/env bash
# What hyper's header timer costs, in instructions per request: `examples/hyper_server`
# (hyper through `minirt::hyper`) and its tokio twin (`benches/http_hyper_tokio.rs`), each
# with the timer on (`header_read_timeout`, 10 s) and off (`--header-timeout-secs 0`), run
# under `valgrind --tool=callgrind` while `wrk -t1 -c10` loads them.
#
# Wall time under wrk (`benches/http.sh`) moves with this machine's noise by more than the
# timer costs; instructions do not. Each server is warmed up for 1 s, then its counters are
# zeroed (`callgrind_control --zero`), wrk runs for DURATION, and the counters are dumped
# (`callgrind_control --dump`): start-up and shutdown are not counted. The figure is that
# dump's instructions over wrk's request count. It is steady state, not exact to the
# instruction: under callgrind the server runs some 50x slower, so how many requests one
# wait of the poller gathers differs from a native run, and with it the loop's share.
#
#   bash benches/hyper_count.sh               # 4 runs, about 30 s once built
#   DURATION=10s bash benches/hyper_count.sh
#
# Writes target/minirt-bench/hyper_count.md, and keeps each run's counts beside it
# (hyper_count-minirt-timer-on.callgrind and so on) for `callgrind_annotate`.
# Skips, with a message and exit 0, when valgrind or wrk is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5s}
for tool in valgrind callgrind_control wrk; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "hyper_count.sh: skipped: $tool is missing (apt-get install valgrind wrk)"
    exit 0
  fi
done

cargo build --release --example hyper_server --features hyper
cargo bench --bench http_hyper_tokio --no-run
tokio_bin=$(cargo bench --bench http_hyper_tokio --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*http_hyper_tokio-[^"]*\)".*/\1/p' | tail -1)
[ -x "$tokio_bin" ] || { echo "hyper_count.sh: cannot find the http_hyper_tokio binary"; exit 1; }

tmp=$(mktemp -d)
. benches/server.sh
trap 'stop_server; rm -rf "$tmp"' EXIT

# Runs one server command under load and sets `ir` (instructions since the zeroing) and
# `requests`; keeps the dump at $1. Not in a subshell, so that the EXIT trap knows the server
# it may have to stop.
count() {
  local keep=$1; shift
  start_server valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "$@"
  wrk -t1 -c10 -d1s "http://$addr/" >/dev/null
  callgrind_control --zero "$server_pid" >/dev/null 2>&1
  requests=$(wrk -t1 -c10 -d"$DURATION" "http://$addr/" | awk '/requests in/ {print $1}' || true)
  callgrind_control --dump "$server_pid" >/dev/null 2>&1
  stop_server
  # The dump made by --dump is the numbered file; its "totals:" line is what ran since --zero.
  local dump
  dump=$(ls "$tmp"/cg.out.* 2>/dev/null | head -1)
  ir=$( [ -n "$dump" ] && awk '/^(totals|summary):/ {print $2; exit}' "$dump" || true)
  if [ -z "$ir" ] || [ -z "$requests" ] || [ "$requests" -eq 0 ]; then
    echo "hyper_count.sh: no count for $*: dump '${dump:-none}', ${requests:-no} requests" >&2
    exit 1
  fi
  cp "$dump" "$keep"
  rm -f "$tmp"/cg.out*
}

row() {
  local name=$1; shift
  count "$out/hyper_count-$(echo "$name" | tr -d ',' | tr ' ' '-').callgrind" "$@"
  awk -v n="$name" -v ir="$ir" -v r="$requests" \
    'BEGIN { printf "| %s | %d | %d |\n", n, r, ir / r }'
  echo "$((ir / requests))" >"$tmp/$name"
}

report() {
  echo "# hyper's header timer, in instructions per request"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- command: \`bash benches/hyper_count.sh\` (wrk -t1 -c10 -d$DURATION under callgrind, after 1 s of warm-up)"
  echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo
  echo "| server | requests | instructions per request |"
  echo "|---|---:|---:|"
  row "minirt, timer on" target/release/examples/hyper_server --addr 127.0.0.1:0
  row "minirt, timer off" target/release/examples/hyper_server --addr 127.0.0.1:0 --header-timeout-secs 0
  row "tokio, timer on" "$tokio_bin" --serve --addr 127.0.0.1:0
  row "tokio, timer off" "$tokio_bin" --serve --addr 127.0.0.1:0 --header-timeout-secs 0
  echo
  echo "| runtime | the timer's instructions per request | on over off |"
  echo "|---|---:|---:|"
  for rt in minirt tokio; do
    awk -v rt="$rt" -v on="$(cat "$tmp/$rt, timer on")" -v off="$(cat "$tmp/$rt, timer off")" \
      'BEGIN { printf "| %s | %d | %.3f |\n", rt, on - off, on / off }'
  done
}

out=target/minirt-bench
mkdir -p "$out"
# Into the file first, then shown: in a pipeline `report` would run in a subshell, and the
# EXIT trap could not stop a server it left behind.
report >"$out/hyper_count.md"
cat "$out/hyper_count.md"
