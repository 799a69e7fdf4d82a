#!/usr/bin/env bash
# CI check of the release link of the front (scripts/build-release.sh): the `pbal` front linked
# statically (glibc static-pie) must start without ld.so and plan byte for byte like pbal-full,
# and so must the front linked again in the function order of scripts/front-order.sh (where
# valgrind is installed). Uses the debug profile so only the front's own crate is compiled
# again; it replaces target/debug/pbal with the static build, so run it after the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
front=$target/debug/pbal
full=$target/debug/pbal-full
# shellcheck source=scripts/front-static-flags.sh
. scripts/front-static-flags.sh

same_plans() { # what: the front and pbal-full print the same plans, errors and exit codes
  if readelf -lW "$front" | grep -q 'INTERP'; then
    echo "error: $front ($1) is dynamically linked" >&2
    exit 1
  fi
  # The front's own start-up (src/front/start.rs) replaces glibc's: the CPU probe of glibc's
  # libc-start.o (its cache-size helpers are local symbols there) must not be linked in.
  if [[ " ${static[*]} " == *" pbal_glibc_start "* ]] && nm "$front" | grep -qE ' [tT] (handle_intel|intel_check_word|__libc_start_main_impl)'; then
    echo "error: $front ($1) links glibc's own __libc_start_main and its CPU probe" >&2
    exit 1
  fi
  local ex=examples/portfolio.csv args a b
  for args in "-c 5000 -i 2" "-c 5000 --format json" "-s hard --granularity exact -c -100" \
              "-s min-trades --band-rel-pct 25 -c 1000" "--bogus"; do
    # shellcheck disable=SC2086
    a=$("$front" plan "$ex" $args 2>&1; echo "exit $?")
    # shellcheck disable=SC2086
    b=$("$full" plan "$ex" $args 2>&1; echo "exit $?")
    if [[ "$a" != "$b" ]]; then
      echo "error: $1 front and pbal-full differ on: plan $ex $args" >&2
      diff <(echo "$a") <(echo "$b") >&2 || true
      exit 1
    fi
  done
  # The hand-over to pbal-full works from the static front too.
  "$front" --version | grep -q '^pbal '
  echo "$1 front: OK"
}

cargo build --locked --quiet --bin pbal-full
cargo rustc --locked --quiet --bin pbal -- "${static[@]}"
same_plans static
if command -v valgrind > /dev/null; then
  order=$target/debug/front-order.txt
  scripts/front-order.sh "$front" "$order"
  cargo rustc --locked --quiet --bin pbal -- "${static[@]}" \
    -C link-arg=-Wl,--symbol-ordering-file="$order" -C link-arg=-Wl,--no-warn-symbol-ordering
  scripts/front-order.sh --check "$front" "$order"
  same_plans "static, ordered"
else
  echo "note: valgrind not installed; the function order of the release front is not checked" >&2
fi
