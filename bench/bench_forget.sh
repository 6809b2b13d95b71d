#!/usr/bin/env bash
# Memory benchmark (not a test): allotd's resident memory as short workloads run to their end
# and leave its engine for the history (issue 17; docs/benchmarks.md, "Ended workloads leave
# the engine"). Simulated nodes, SQLite.
#
#   bench/bench_forget.sh                       # N = 40000, 2 rounds, --keep-finished 1s and 10m
#   bench/bench_forget.sh --count 10000 --rounds 3 --keep "1s"
#
# For each KEEP, a fresh daemon (allotd --keep-finished KEEP, 16 nodes x 8 GPUs): its RSS once
# started; then ROUNDS times: N one-GPU workloads of 1 ms submitted (bench_load --submit-only,
# 16 connections) and run to their end (with KEEP shorter than the run, most already
# forgotten by the engine: allot_workloads_forgotten_total); the RSS after each round (VmRSS
# of /proc/PID/status). With a KEEP longer than the run (10m) nothing is forgotten during it: what
# each ended workload costs while the engine holds it; the script then waits until the keep
# has passed and every one is forgotten, and prints the RSS then ("after keep"; 10m: a
# ten-minute wait, --keep "1s 2m" is quicker).
set -euo pipefail

BENCH_NAME=bench_forget
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

COUNT=40000
ROUNDS=2
KEEPS="1s 10m"
ALLOT_PORT=17284
while [ $# -gt 0 ]; do
    case "$1" in
    --count) COUNT=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --keep) KEEPS=$2; shift 2 ;;
    --port) ALLOT_PORT=$2; shift 2 ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "usage: bench/bench_forget.sh [--count N] [--rounds R] [--keep \"D ...\"] [--port P]" >&2; exit 2 ;;
    esac
done
command -v curl >/dev/null || bench_die "curl is missing"
allot_build
bench_tmp_init allot-bench-forget
ALLOT_URL="http://127.0.0.1:$ALLOT_PORT"
allot_platform 16 "$BENCH_TMP/platform.yaml"
DATA="$BENCH_TMP/data"

metric() { # $1: a metric with its labels, as /metrics prints it
    curl -sf -H "Authorization: Bearer $(cat "$DATA/admin.token")" "$ALLOT_URL/metrics" |
        awk -v m="$1" '$1 == m { print $2 }'
}
rss_mib() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$PID/status"; }

echo "== allotd RSS (MiB) as N workloads of 1 ms end, per round; $(nproc) cores, SQLite, $BUILD"
printf '%6s %8s %8s' "keep" "N" "start"
for r in $(seq "$ROUNDS"); do printf ' %10s' "round $r"; done
printf ' %10s %10s %10s\n' "after keep" "forgotten" "in engine"
for KEEP in $KEEPS; do
    rm -rf "$DATA"
    "$ALLOTD" --listen "127.0.0.1:$ALLOT_PORT" --data "$DATA" --platform "$BENCH_TMP/platform.yaml" \
        --keep-finished "$KEEP" 2>"$BENCH_TMP/allotd.log" &
    PID=$!
    bench_track "$PID"
    for _ in $(seq 300); do
        curl -sf "$ALLOT_URL/readyz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    TOKEN=$(cat "$DATA/admin.token")
    LINE=$(printf '%6s %8s %8s' "$KEEP" "$COUNT" "$(rss_mib)")
    for r in $(seq "$ROUNDS"); do
        "$BENCH_LOAD" --port "$ALLOT_PORT" --token "$TOKEN" --tenant bench --workspace research \
            --count "$COUNT" --conns 16 --submit-only --duration 1ms >/dev/null
        want=$((r * COUNT))
        for _ in $(seq 1800); do # every one ended (in the engine or forgotten): 30 min at most
            fin=$(metric 'allot_workloads{tenant="bench",state="finished"}')
            gone=$(metric allot_workloads_forgotten_total)
            [ $((${fin:-0} + ${gone:-0})) -ge "$want" ] && break
            sleep 1
        done
        LINE="$LINE $(printf ' %10s' "$(rss_mib)")"
    done
    for _ in $(seq 3600); do # the keep passes: every one forgotten (1 h at most)
        [ "$(metric allot_workloads_forgotten_total)" -ge $((ROUNDS * COUNT)) ] && break
        sleep 1
    done
    IN=$(curl -sf "$ALLOT_URL/readyz" | sed 's/.*"workloads":\([0-9]*\).*/\1/')
    printf '%s %10s %10s %10s\n' "$LINE" "$(rss_mib)" "$(metric allot_workloads_forgotten_total)" "$IN"
    bench_stop_pid "$PID"
done
