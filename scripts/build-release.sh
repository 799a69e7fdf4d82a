#!/usr/bin/env bash
# Release build of the two executables into ${CARGO_TARGET_DIR:-target}/release:
# - pbal-full (every command; the daemon): an ordinary dynamically linked build;
# - pbal (the front: `pbal plan`, and `exec pbal-full` for the rest): statically linked
#   (glibc static-pie, still position-independent, so ASLR stays on).
#
# Why static: at 10^3 rows, loading the shared libraries (ld.so, libc, libgcc_s) is about a third
# of the whole `pbal plan` process (~0.3 ms of ~1 ms CPU on the measuring machine; see the speed
# section of the README). The front needs nothing glibc can only do dynamically: it reads files,
# writes stdout and execs pbal-full (no DNS, no dlopen; `~` comes from $HOME). Cargo has no
# per-binary target features, so the front gets `-C target-feature=+crt-static` through
# `cargo rustc`, which applies it to that one crate and its link only. `cargo install` and
# `cargo build` give a dynamically linked front: same behaviour, slower start.
# PBAL_FRONT_ORDER=0 skips the function order (scripts/front-order.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
cargo build --release --locked --bin pbal-full
# The front is linked with the code a plan runs gathered at the start of .text
# (scripts/front-order.sh says why; it needs valgrind). The order comes from a profile of the
# front itself, so: link with the order of the last build (none the first time), profile, and
# link once more only if the order changed. Cargo does not notice a changed file behind an
# unchanged path, so each order has its own file name (its hash).
# shellcheck source=scripts/front-static-flags.sh
. scripts/front-static-flags.sh
ordered() { echo -C link-arg=-Wl,--symbol-ordering-file="$1" -C link-arg=-Wl,--no-warn-symbol-ordering; }
last=$(cat "$target/release/front-order.last" 2> /dev/null || true)
if [[ "${PBAL_FRONT_ORDER:-1}" != 1 ]]; then
  cargo rustc --release --locked --bin pbal -- "${static[@]}"
else
  # shellcheck disable=SC2046
  cargo rustc --release --locked --bin pbal -- "${static[@]}" $([[ -f "$last" ]] && ordered "$last")
  if scripts/front-order.sh "$target/release/pbal" "$target/release/front-order.new"; then
    order=$target/release/front-order-$(sha256sum "$target/release/front-order.new" | cut -c1-16).txt
    mv "$target/release/front-order.new" "$order"
    if [[ "$order" != "$last" ]]; then
      # shellcheck disable=SC2046
      cargo rustc --release --locked --bin pbal -- "${static[@]}" $(ordered "$order")
      echo "$order" > "$target/release/front-order.last"
    fi
    find "$target/release" -maxdepth 1 -name 'front-order-*.txt' ! -path "$order" -delete
    echo "front: $(scripts/front-order.sh --check "$target/release/pbal" "$order")"
  else
    echo "note: the front keeps the linker's function order (~20 more page faults a run)" >&2
  fi
fi
# Static: no program interpreter (ld.so) requested.
if readelf -lW "$target/release/pbal" | grep -q 'INTERP'; then
  echo "error: $target/release/pbal is not a static-pie executable" >&2
  exit 1
fi
echo "built $target/release/pbal (static-pie) and $target/release/pbal-full"
