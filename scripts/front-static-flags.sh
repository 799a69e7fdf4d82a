# Sourced by scripts/build-release.sh and scripts/check-static-front.sh: the rustc flags of the
# statically linked `pbal` front, in the array `static`.
# - glibc static-pie (still position-independent, so ASLR stays on): see build-release.sh;
# - the front's own start-up (src/front/start.rs), which follows glibc 2.36 step by step: only
#   with exactly that C library, else the front keeps glibc's own start-up.
# shellcheck shell=bash disable=SC2034
static=(-C target-feature=+crt-static)
if [[ "$(getconf GNU_LIBC_VERSION 2> /dev/null)" == "glibc 2.36" ]]; then
  static+=(--cfg pbal_glibc_start)
else
  echo "note: $(getconf GNU_LIBC_VERSION 2> /dev/null || echo 'not glibc'): the front keeps glibc's own start-up (src/front/start.rs follows glibc 2.36)" >&2
fi
