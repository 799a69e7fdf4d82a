#!/usr/bin/env bash
# CI check of the release link of the front (scripts/build-release.sh): the `pbal` front linked
# statically (glibc static-pie) must start without ld.so and plan byte for byte like pbal-full.
# Uses the debug profile so only the front's own crate is compiled again; it replaces
# target/debug/pbal with the static build, so run it after the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
cargo build --locked --quiet --bin pbal-full
cargo rustc --locked --quiet --bin pbal -- -C target-feature=+crt-static
front=$target/debug/pbal
full=$target/debug/pbal-full
if readelf -lW "$front" | grep -q 'INTERP'; then
  echo "error: $front is dynamically linked" >&2
  exit 1
fi
ex=examples/portfolio.csv
for args in "-c 5000 -i 2" "-c 5000 --format json" "-s hard --granularity exact -c -100" \
            "-s min-trades --band-rel-pct 25 -c 1000" "--bogus"; do
  # shellcheck disable=SC2086
  a=$("$front" plan "$ex" $args 2>&1; echo "exit $?")
  # shellcheck disable=SC2086
  b=$("$full" plan "$ex" $args 2>&1; echo "exit $?")
  if [[ "$a" != "$b" ]]; then
    echo "error: static front and pbal-full differ on: plan $ex $args" >&2
    diff <(echo "$a") <(echo "$b") >&2 || true
    exit 1
  fi
done
# The hand-over to pbal-full works from the static front too.
"$front" --version | grep -q '^pbal '
echo "static front: OK"
