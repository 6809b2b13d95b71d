#!/usr/bin/env bash
# bench_sched on a loaded machine (issue 15's condition; docs/benchmarks.md): a Debug build of
# the project loops on core 0 while each given bench_sched runs on core 1, three rounds,
# alternating between the binaries so that they share the machine's moods. Prints, per run,
# the whole-queue time and the three decision p99s with their targets.
#
#   bench/bench_sched_loaded.sh                                  # build-release/bench_sched
#   bench/bench_sched_loaded.sh /tmp/old/bench_sched build-release/bench_sched
#
# The build loop runs in a process group of its own, stopped (and its directory removed)
# when the script ends, however it ends.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ $# -gt 0 ] || set -- "$ROOT/build-release/bench_sched"
for b in "$@"; do
    [ -x "$b" ] || { echo "bench_sched_loaded: $b: not an executable (make bench builds one)" >&2; exit 1; }
done
TMP=$(mktemp -d /tmp/bench_sched_loaded.XXXXXX)
LOOP=""
cleanup() {
    if [ -n "$LOOP" ]; then
        kill -TERM -- "-$LOOP" 2>/dev/null || true
        wait "$LOOP" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# the load: configure and build from scratch, again and again, on core 0 (setsid: its own
# group, so that the cleanup stops cmake and ninja with it)
setsid bash -c 'while :; do
    rm -rf "$1/build"
    cmake -S "$2" -B "$1/build" -G Ninja -DCMAKE_BUILD_TYPE=Debug >/dev/null 2>&1 || exit 1
    taskset -c 0 ninja -C "$1/build" -j1 >/dev/null 2>&1 || exit 1
done' bench_sched_loaded "$TMP" "$ROOT" &
LOOP=$!
sleep 20 # the build under way
kill -0 "$LOOP" 2>/dev/null || { echo "bench_sched_loaded: the Debug build failed" >&2; exit 1; }

for round in 1 2 3; do
    for b in "$@"; do
        figures=$(taskset -c 1 "$b" | grep -E 'whole queue <|one more decision' | sed 's/.*: //' |
            tr '\n' ' ')
        echo "round $round $b: $figures"
    done
done
