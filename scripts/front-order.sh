#!/usr/bin/env bash
# Writes a function order for linking the `pbal` front: the functions a run of `pbal plan`
# executes, first glibc's start-up, then those of a header-only plan, then those of each
# strategy and granularity, each function once. `scripts/build-release.sh` links the front again with it
# (lld's --symbol-ordering-file), so the code a plan runs sits together at the start of .text.
#
# Why: the kernel maps an executable's code page by page on first touch, and maps the
# neighbouring pages of the file with it (fault-around). The code one `pbal plan` runs is
# ~0.6 MB, but in the linker's own order it is spread over the front's ~3.2 MB of code, so a
# run took ~45 code page faults and mapped ~1.3 MB. Gathered, it takes ~10: `pbal plan` on a
# header-only CSV went from 80 page faults to 45, and ~0.2 ms less CPU at 10^3 rows (README,
# speed section). The order only moves functions; the code and every output stay the same.
#
# The functions are found by running the freshly built front under callgrind (valgrind), which
# names every function it executes; where valgrind is missing the script fails and the caller
# keeps the linker's own order. Only names the executable defines are kept, in the mangled form
# lld matches on. What valgrind cannot see is added by name: glibc's native start-up and the
# host CPU's variants of memcpy, strlen, ... (below).
#
# Usage: scripts/front-order.sh FRONT OUT
#        scripts/front-order.sh --check FRONT ORDER   (after linking with ORDER: says how many of
#        its functions the front defines and how much of .text they span; fails if the names
#        moved under the order, e.g. a second link that did not name its symbols the same)
set -euo pipefail
if [[ "${1:-}" == --check ]]; then
  nm -S --defined-only "$2" | awk '
    function hex(s,   i, v) { v = 0; for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1; return v }
    NR == FNR { want[$0] = 1; n++; next }
    NF == 4 && ($4 in want) && !got[$4]++ {
      a = hex($1); e = a + hex($2); k++; size += e - a
      if (lo == "" || a < lo) lo = a; if (e > hi) hi = e
    }
    END {
      if (k < n * 0.9) { printf "front-order: only %d of %d ordered functions found\n", k, n > "/dev/stderr"; exit 1 }
      printf "%d of %d ordered functions, %.2f MB of code within %.2f MB\n", k, n, size / 1e6, (hi - lo) / 1e6
    }' "$3" -
  exit
fi
front=$1
out=$2
command -v valgrind > /dev/null || { echo "front-order: valgrind not found" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# A Flex Query CSV shaped like the one scripts/measure-plan.sh measures, from another seed. 1000
# rows, not fewer: some paths only run on longer inputs (sorts past their small-input cut-off,
# the buffered writer's flush, the whole-share proofs when the budget binds).
awk 'BEGIN {
  srand(7);
  print "\"Symbol\",\"PositionValue\",\"MarkPrice\",\"FifoPnlUnrealized\"";
  for (i = 0; i < 1000; i++) {
    price = 5 + int(rand() * 49500) / 100;
    qty = int(rand() * 1000);
    printf "\"S%07d\",\"%.2f\",\"%.2f\",\"%.4f\"\n", i, qty * price, price, (rand() - 0.5) * 2000;
  }
}' > "$dir/p.csv"
head -1 "$dir/p.csv" > "$dir/empty.csv"

runs=(
  "$dir/empty.csv"
  "-s try_avoid_sell -i 3 --cash=1000000 $dir/p.csv"
  "-s hard_rebalance -i 3 --cash=1000000 $dir/p.csv"
  "--cash=1000000 $dir/p.csv"
  "-s hard --cash=1000000 $dir/p.csv"
  "--granularity exact --cash=1000000 $dir/p.csv"
  "-s hard --granularity exact --cash=1000000 $dir/p.csv"
  "--cash=-10000 $dir/p.csv"
  "-s min-trades --band-rel-pct 25 --cash=1000000 $dir/p.csv"
  "--format json --cash=1000000 $dir/p.csv"
)
i=0
for args in "${runs[@]}"; do
  # shellcheck disable=SC2086
  valgrind --tool=callgrind --demangle=no --compress-strings=no --compress-pos=no \
    --callgrind-out-file="$dir/cg.$i" "$front" plan $args > /dev/null 2> "$dir/log.$i" \
    || { echo "front-order: the profile run 'pbal plan $args' failed:" >&2; cat "$dir/log.$i" >&2; exit 1; }
  i=$((i + 1))
done

# Names the front defines (code symbols); then every executed one of them: those of the first run,
# then those each later run adds. Sorted by name within a run, so that the order depends only on
# which functions run, not on where they sit, and a build that changes nothing gets the same file.
nm --defined-only "$front" | awk '$2 ~ /^[tTWi]$/ { print $3 }' | sort -u > "$dir/defined"
# First what runs before callgrind can name it, or under other names: glibc's start-up (some
# of it only natively, with a vDSO), and the resolvers of every IFUNC (type i: memcpy, floor,
# ...), which the static start-up calls for all of them, used or not.
{
  printf '%s\n' _start __libc_start_main __libc_start_main_impl __libc_start_call_main \
    _dl_relocate_static_pie _dl_aux_init __libc_init_secure __libc_setup_tls \
    _dl_non_dynamic_init _dl_new_object _dl_add_to_namespace_list pthread_mutex_lock \
    pthread_mutex_unlock _dl_setup_hash frame_dummy register_tm_clones deregister_tm_clones \
    setup_vdso setup_vdso_pointers _dl_vdso_vsym dl_vdso_vsym _dl_lookup_symbol_x do_lookup_x \
    check_match _dl_name_match_p \
    | sort -u | comm -12 - "$dir/defined"
  nm --defined-only "$front" | awk '$2 == "i" { print $3 }' | sort -u
} > "$out"
for ((j = 0; j < i; j++)); do
  sed -n 's/^fn=//p' "$dir/cg.$j" | sort -u | comm -12 - "$dir/defined" \
    | { grep -vxFf "$out" || true; } > "$dir/new"
  cat "$dir/new" >> "$out"
done
# glibc picks memcpy, strlen, ... for the CPU it runs on, and valgrind's CPU lacks some of the
# host's features (AVX-512): so every variant of each such function the profile used, e.g.
# __memmove_avx512_unaligned_erms beside the profiled __memcpy_avx_unaligned_erms (~45 KB).
variant='^__([a-z0-9]+)_(sse2|sse4|ssse3|avx|evex|erms)'
# (strcmp: the native start-up's symbol lookup in the vDSO, which valgrind does not have.)
families=$({ echo strcmp; sed -nE "s/${variant}.*/\1/p" "$out"; } | sed -E 's/^mem(p?cpy)$/memmove/' \
  | sort -u | paste -sd '|')
if [[ -n "$families" ]]; then
  grep -E "^__(${families}|memcpy|mempcpy)_(sse2|sse4|ssse3|avx|evex|erms)" "$dir/defined" \
    | { grep -vxFf "$out" || true; } > "$dir/new"
  cat "$dir/new" >> "$out"
fi
n=$(wc -l < "$out")
if [[ "$n" -lt 100 ]]; then
  echo "front-order: only $n executed functions found; is $front the front with symbols?" >&2
  exit 1
fi
echo "front-order: $n functions in $out"
