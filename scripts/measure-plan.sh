#!/usr/bin/env bash
# Whole-process timing of `pbal plan --format json` on generated 1e3- and 1e5-row Flex Query
# CSVs (release build). Prints the best and median of N runs per size.
#   scripts/measure-plan.sh [RUNS]   (default 15)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-15}
cargo build --release --quiet --bin pbal
bin=${CARGO_TARGET_DIR:-target}/release/pbal
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

for rows in 1000 100000; do
  f="$dir/p$rows.csv"
  gen "$rows" "$f"
  for args in "-c 100000" "-c 100000 -s hard" "-c 100000 -i 2"; do
    times=()
    for _ in $(seq "$runs"); do
      t0=$(date +%s%N)
      # shellcheck disable=SC2086
      "$bin" plan "$f" $args --format json > /dev/null
      t1=$(date +%s%N)
      times+=( $(( (t1 - t0) / 1000 )) )
    done
    sorted=$(printf '%s\n' "${times[@]}" | sort -n)
    best=$(echo "$sorted" | head -1)
    median=$(echo "$sorted" | sed -n "$(( (runs + 1) / 2 ))p")
    awk -v r="$rows" -v a="$args" -v b="$best" -v m="$median" -v n="$runs" \
      'BEGIN { printf "%7d rows  %-22s best %6.1f ms  median %6.1f ms  (%d runs)\n", r, a, b / 1000, m / 1000, n }'
  done
done
