#!/usr/bin/env bash
# Whole-process timing of `pbal plan` against the original Python tool on the same generated
# Flex Query CSVs (1e3 and 1e5 rows), every strategy and granularity. Prints a Markdown table:
# median CPU time (user + sys of the process, from wait4) and median wall time of RUNS runs.
#
#   ORIG_PBAL=/path/to/original/bin/pbal scripts/measure-plan.sh [RUNS] [ORIG_RUNS]
#
# pbal is the release build of scripts/build-release.sh (the front statically linked); set
# PBAL_BIN=path to time another build instead (e.g. a plain `cargo build --release`).
# RUNS (default 21) runs of pbal per case, ORIG_RUNS (default 3) of the original (1e5 rows take
# it seconds). The original: `pip install .` in a checkout of cfreundlich/portfolio-balancer
# (needs `tabulate`), then point ORIG_PBAL at its `pbal`; without it the column shows "-".
# CPU time is the figure to compare on a shared machine: wall time waits for other processes.
# Output is the default text table for both tools (the original prints a table too).
# INSTRUCTIONS=1 adds a column of pbal's instructions per run (millions, callgrind: exact and
# independent of the machine's load; needs valgrind, adds ~1 minute).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-21}
orig_runs=${2:-3}
orig=${ORIG_PBAL:-}
if [[ -n "${PBAL_BIN:-}" ]]; then
  bin=$PBAL_BIN
else
  scripts/build-release.sh > /dev/null
  bin=${CARGO_TARGET_DIR:-target}/release/pbal
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

gen() { # rows file
  awk -v n="$1" 'BEGIN {
    srand(42);
    print "\"Symbol\",\"PositionValue\",\"MarkPrice\",\"FifoPnlUnrealized\"";
    for (i = 0; i < n; i++) {
      price = 5 + int(rand() * 49500) / 100;
      qty = int(rand() * 1000);
      printf "\"S%07d\",\"%.2f\",\"%.2f\",\"%.4f\"\n", i, qty * price, price, (rand() - 0.5) * 2000;
    }
  }' > "$2"
}

# Runs a command RUNS times without a shell in between (posix_spawn + wait4) and prints
# "median_cpu_ms median_wall_ms".
cat > "$dir/time.py" <<'EOF'
import os, statistics, sys, time
runs, cmd = int(sys.argv[1]), sys.argv[2:]
null = os.open(os.devnull, os.O_WRONLY)
cpu, wall = [], []
for _ in range(runs):
    t0 = time.perf_counter()
    pid = os.posix_spawnp(cmd[0], cmd, os.environ,
                          file_actions=[(os.POSIX_SPAWN_DUP2, null, 1)])
    _, status, ru = os.wait4(pid, 0)
    wall.append((time.perf_counter() - t0) * 1e3)
    if status != 0:
        sys.exit("failed: " + " ".join(cmd))
    cpu.append((ru.ru_utime + ru.ru_stime) * 1e3)
print(f"{statistics.median(cpu):.2f} {statistics.median(wall):.2f}")
EOF

# label | pbal arguments | the original's arguments (its closest mode; it has only -i steps)
cases=(
  "never-sell -i 3|-s try_avoid_sell -i 3 --cash=CASH|-s try_avoid_sell -i 3 -c CASH"
  "hard -i 3|-s hard_rebalance -i 3 --cash=CASH|-s hard_rebalance -i 3 -c CASH"
  "never-sell shares|--cash=CASH|-s try_avoid_sell -i 3 -c CASH"
  "hard shares|-s hard --cash=CASH|-s hard_rebalance -i 3 -c CASH"
  "never-sell exact|--granularity exact --cash=CASH|-s try_avoid_sell -i 3 -c CASH"
  "hard exact|-s hard --granularity exact --cash=CASH|-s hard_rebalance -i 3 -c CASH"
  "withdraw shares|--cash=-WCASH|-s try_avoid_sell -i 3 -c -WCASH"
  "min-trades ±25 %|-s min-trades --band-rel-pct 25 --cash=CASH|-s try_avoid_sell -i 3 -c CASH"
)

# The floor: what any process costs here before doing work. A header-only CSV through pbal
# (start-up, argument parsing, reading the file, an empty plan), and an empty C program
# (dynamically linked like pbal) when a C compiler is there.
printf '"Symbol","PositionValue","MarkPrice","FifoPnlUnrealized"\n' > "$dir/empty.csv"
read -r ecpu ewall < <(python3 "$dir/time.py" "$runs" "$bin" plan "$dir/empty.csv")
echo "Floor: \`pbal plan\` on a header-only CSV: CPU $ecpu ms, wall $ewall ms."
if command -v cc > /dev/null; then
  echo 'int main(void) { return 0; }' > "$dir/empty.c"
  cc -O2 -o "$dir/empty" "$dir/empty.c"
  read -r ccpu cwall < <(python3 "$dir/time.py" "$runs" "$dir/empty")
  echo "Floor: an empty C program (dynamically linked): CPU $ccpu ms, wall $cwall ms."
  # Statically linked like the release front: what glibc's own start-up costs here (on a VM
  # that traps `cpuid`, most of it is glibc reading the CPU's features and caches).
  if cc -O2 -static-pie -o "$dir/empty-static" "$dir/empty.c" 2> /dev/null; then
    read -r scpu swall < <(python3 "$dir/time.py" "$runs" "$dir/empty-static")
    echo "Floor: an empty C program (static-pie, like the release front): CPU $scpu ms, wall $swall ms."
  fi
fi
echo

count=${INSTRUCTIONS:-}
echo "| rows | pbal plan | original CPU ms | pbal CPU ms | ratio (CPU) | original wall ms | pbal wall ms |${count:+ pbal instructions (M) |}"
echo "|---:|---|---:|---:|---:|---:|---:|${count:+---:|}"
declare -A orig_cache
for rows in 1000 100000; do
  f="$dir/p$rows.csv"
  gen "$rows" "$f"
  cash=$((1000 * rows))
  wcash=$((10 * rows))
  for c in "${cases[@]}"; do
    IFS='|' read -r label pargs oargs <<< "$c"
    pargs=${pargs//WCASH/$wcash}; pargs=${pargs//CASH/$cash}
    oargs=${oargs//WCASH/$wcash}; oargs=${oargs//CASH/$cash}
    # shellcheck disable=SC2086
    read -r pcpu pwall < <(python3 "$dir/time.py" "$runs" "$bin" plan "$f" $pargs)
    ocpu="-"; owall="-"; ratio="-"
    if [[ -n "$orig" ]]; then
      key="$rows $oargs"
      if [[ -z "${orig_cache[$key]:-}" ]]; then
        # shellcheck disable=SC2086
        orig_cache[$key]=$(python3 "$dir/time.py" "$orig_runs" "$orig" "$f" $oargs)
      fi
      read -r ocpu owall <<< "${orig_cache[$key]}"
      ratio=$(awk -v o="$ocpu" -v p="$pcpu" 'BEGIN { printf "%.0f×", o / p }')
    fi
    ins=""
    if [[ -n "$count" ]]; then
      # shellcheck disable=SC2086
      ins=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" plan "$f" $pargs 2>&1 > /dev/null |
        awk '/Collected :/ { printf " %.1f |", $NF / 1e6 }')
    fi
    echo "| $rows | \`$pargs\` ($label) | $ocpu | $pcpu | $ratio | $owall | $pwall |$ins"
  done
done
