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
