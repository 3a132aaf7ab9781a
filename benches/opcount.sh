#!/usr/bin/env bash
# Instructions and allocations per operation, minirt against tokio's current_thread runtime.
#
#   bash benches/opcount.sh                    # every operation, both runtimes
#   N=5000 bash benches/opcount.sh yield       # one operation, more repetitions
#   CARGO_FLAGS=--no-default-features bash benches/opcount.sh   # minirt without the recycler
#
# Each (operation, runtime) pair runs `benches/opcount.rs` under `valgrind --tool=callgrind`
# twice, with N repetitions and with none, and prints (Ir(N) - Ir(0)) / N: the instructions one
# operation costs, with the runtime's setup, warm-up and teardown cancelled out. Instruction
# counts are deterministic, so a loaded machine gives the same figures as a quiet one. The
# atomic read-modify-writes (lock-prefixed instructions and xchg with memory) are counted from
# the same profiles by benches/count_atomics.py. The allocation figures come from the
# program's counting allocator (outside valgrind).
# docs/why-fast.md explains the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)"; exit 1; }
N=${N:-2000}
OPS=${*:-spawn_join yield yield_task mutex queue queue_task queue_bounded_task spawn_wake spawn_handle spawn_burst sleep_cancel sleep_fire}
# Unquoted on purpose: a list of flags for cargo (the features minirt is built with).
# shellcheck disable=SC2086
BIN=$(cargo bench --bench opcount --no-run ${CARGO_FLAGS:-} --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*opcount[^"]*\)".*/\1/p' | tail -1)
[ -x "$BIN" ] || { echo "could not build benches/opcount.rs"; exit 1; }

PROFILE=$(mktemp)
trap 'rm -f "$PROFILE"' EXIT
profile() { # op peer n -> "instructions atomics"
  local ir
  ir=$(valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file="$PROFILE" \
    "$BIN" "$1" "$2" "$3" 2>&1 >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
  echo "$ir $(python3 benches/count_atomics.py "$PROFILE")"
}

printf '| operation | runtime | instructions/op | atomic RMWs/op | allocations/op | bytes allocated/op |\n'
printf '|---|---|---:|---:|---:|---:|\n'
for op in $OPS; do
  for peer in minirt tokio; do
    read -r base_ir base_atomics < <(profile "$op" "$peer" 0)
    read -r full_ir full_atomics < <(profile "$op" "$peer" "$N")
    allocs=$("$BIN" "$op" "$peer" "$N")
    per_alloc=$(echo "$allocs" | sed -n 's/.*: \([0-9.]*\) allocations\/op, \([0-9.]*\) bytes\/op/\1 | \2/p')
    printf '| %s | %s | %s | %s | %s |\n' "$op" "$peer" "$(( (full_ir - base_ir) / N ))" \
      "$(awk -v a="$full_atomics" -v b="$base_atomics" -v n="$N" 'BEGIN { printf "%.1f", (a - b) / n }')" "$per_alloc"
  done
done
