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
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
cargo build --release --locked --bin pbal-full
cargo rustc --release --locked --bin pbal -- -C target-feature=+crt-static
# Static: no program interpreter (ld.so) requested.
if readelf -lW "$target/release/pbal" | grep -q 'INTERP'; then
  echo "error: $target/release/pbal is not a static-pie executable" >&2
  exit 1
fi
echo "built $target/release/pbal (static-pie) and $target/release/pbal-full"
