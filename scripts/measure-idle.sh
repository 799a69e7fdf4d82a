#!/usr/bin/env bash
# Idle cost of `pbal run`: resident memory and wake-ups of the daemon against the simulator.
# Usage: scripts/measure-idle.sh [SECONDS]   (builds the release binary first)
set -euo pipefail
secs=${1:-120}
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/pbal
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin" sim --listen 127.0.0.1:0 --ca-out "$work/ca.pem" >"$work/sim.out" 2>/dev/null &
for _ in $(seq 50); do grep -q '^listening on' "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -m1 '^listening on' "$work/sim.out" | sed 's/listening on //')
printf '[gateway]\nurl = "%s"\nca_cert = "%s/ca.pem"\n[state]\ndir = "%s/state"\n' "$url" "$work" "$work" >"$work/p.toml"
"$bin" --config "$work/p.toml" run 2>"$work/run.log" &
pid=$!
sleep 20   # start-up, first tickle and priming (the daemon first trims its code pages at 30 s)
echo "after start-up (20 s, before the first trim):"
grep -E '^(Rss|Pss|Pss_Anon|Pss_File):' /proc/$pid/smaps_rollup | sed 's/^/  /'
switches() { local s=0; for t in /proc/$pid/task/*; do s=$((s + $(awk '/ctxt_switches/{x+=$2} END{print x}' "$t/status"))); done; echo $s; }
a=$(switches); c0=$(awk '{print $14+$15}' /proc/$pid/stat)
# RSS once a second over the window: a tickle faults code back in until the next trim.
for _ in $(seq "$secs"); do awk '/^VmRSS/{print $2}' /proc/$pid/status; sleep 1; done >"$work/rss"
b=$(switches); c1=$(awk '{print $14+$15}' /proc/$pid/stat)
echo "threads: $(ls /proc/$pid/task | wc -l)"
echo "VmRSS sampled every second for ${secs}s (kB): min $(sort -n "$work/rss" | head -1), median $(sort -n "$work/rss" | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'), max $(sort -n "$work/rss" | tail -1), max after the first trim (30 s) $(tail -n +12 "$work/rss" | sort -n | tail -1)"
echo "after ${secs}s more of idling:"
grep -E '^(Rss|Pss|Pss_Anon|Pss_File|Private_Dirty):' /proc/$pid/smaps_rollup
echo "context switches in ${secs}s (all threads): $((b - a))  ($(echo "scale=2; ($b - $a) / $secs" | bc) /s)"
echo "CPU time in ${secs}s: $((c1 - c0)) ticks ($(getconf CLK_TCK)/s)"
kill -TERM $pid; wait $pid && echo "stopped cleanly on SIGTERM"
