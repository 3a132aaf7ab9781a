# Sourced by benches/http.sh and benches/echo_latency.sh: starting and stopping the server a
# load generator runs against. Expects `$tmp` (a scratch directory, removed by the caller).
# Each server prints "listening on ADDR" once it accepts; `start_server CMD...` runs CMD in the
# background, waits up to 10 s for that line, and sets `$server_pid` and `$addr`.

server_pid=
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}

start_server() {
  local log=$tmp/server.log
  : >"$log"
  "$@" >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    addr=$(sed -n 's/^listening on //p' "$log")
    [ -n "$addr" ] && return 0
    sleep 0.1
  done
  echo "$(basename "$0"): the server did not say where it listens:"; cat "$log"; exit 1
}

# Pinning: the server on one CPU and its load generator on another, where this process may
# use two and taskset is installed, so that they never take turns on one core. As in the
# compare bench (benches/compare/pin.rs), only on an idle machine: with the 1-minute load
# average at 1 or more, a pinned process cannot move away from the other work on its CPU, so
# nothing is pinned unless PIN=1 (PIN=0: never). Sets the command prefixes `pin_server` and
# `pin_load` (arrays: `"${pin_server[@]}" CMD...`), empty when nothing is pinned, and
# `$pinning`, a line for the report that says which.
pin_setup() {
  local cpus load
  cpus=($(awk '/^Cpus_allowed_list/ {print $2}' /proc/self/status | tr ',' '\n' |
    awk -F- '{ if (NF == 2) { for (i = $1; i <= $2; i++) print i } else print $1 }' | head -2))
  load=$(cut -d' ' -f1 /proc/loadavg)
  pin_server=()
  pin_load=()
  if [ "${PIN:-}" = 0 ]; then
    pinning="not pinned: PIN=0"
  elif [ "${PIN:-}" != 1 ] && awk -v l="$load" 'BEGIN { exit !(l >= 1) }'; then
    pinning="not pinned: the machine was busy (load average $load; PIN=1 pins anyway)"
  elif [ "${#cpus[@]}" -ge 2 ] && command -v taskset >/dev/null; then
    pin_server=(taskset -c "${cpus[0]}")
    pin_load=(taskset -c "${cpus[1]}")
    pinning="server pinned to CPU ${cpus[0]}, load generator to CPU ${cpus[1]} (taskset)"
  elif [ "${#cpus[@]}" -lt 2 ]; then
    pinning="not pinned: this process may use one CPU only"
  else
    pinning="not pinned: taskset is not installed"
  fi
}
