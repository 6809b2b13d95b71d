#!/usr/bin/env bash
# Trace evaluation (not a test): the Philly trace replayed under the three policies
# (static, shared, allot) at three cluster sizes, offered load near 70%, 90% and 110%, with
# every scheduling rule on and with each of the newer ones off, and a report page per size.
# See docs/evaluation.md. Run from the repository root:
#   bench/evaluate.sh [--trace FILE] [--out DIR] [--reserve proportional:0.8]
# Builds allot (Release, into build-release) unless NO_BUILD=1; pins it to one core.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TRACE="$ROOT/../shared/traces/philly.csv"
OUT="$ROOT/out/evaluation"
RESERVE="proportional:0.8"
BUILD=${BUILD:-build-release}
while [ $# -gt 0 ]; do
    case "$1" in
    --trace) TRACE=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --reserve) RESERVE=$2; shift 2 ;;
    --help | -h)
        sed -n '2,6p' "$0"
        exit 0
        ;;
    *) echo "evaluate: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -f "$TRACE" ] || { echo "evaluate: no trace at $TRACE (the traces stay outside the repository)" >&2; exit 2; }
if [ "${NO_BUILD:-0}" != 1 ]; then
    cmake -S "$ROOT" -B "$ROOT/$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$ROOT/$BUILD" --target allot >/dev/null
fi
PIN=()
command -v taskset >/dev/null && [ "$(nproc)" -gt 1 ] && PIN=(taskset -c 1)
mkdir -p "$OUT"
# Philly's GPU-time over its span is a mean of about 374 busy GPUs: 67, 52 and 43 nodes of
# 8 GPUs make 536, 416 and 344 GPUs, an offered load of about 70%, 90% and 109%.
# The rules of issue 15, each of which the runs below turn off in turn (docs/evaluation.md):
# time limits of twice the recorded duration (backfill), checkpoints every 30 minutes, and
# victims chosen to lose the least work (checkpoint_aware, on by default).
TIME_LIMITS=(--time-limit-factor 2)
CHECKPOINTS=(--checkpoint-every 30m)
run() { # run NODES NAME ARGS...: one replay, its table's rows printed
    local nodes=$1 name=$2
    shift 2
    "${PIN[@]}" "$ROOT/$BUILD/allot" sim --trace "$TRACE" --nodes "$nodes" --reserve "$RESERVE" \
        "$@" >"$OUT/$nodes-nodes-$name.txt"
    grep -E '^(static|shared|allot) +[0-9]' "$OUT/$nodes-nodes-$name.txt" | sed "s/^/$name  /"
}
for nodes in 67 52 43; do
    echo "== $((nodes * 8)) GPUs ($nodes nodes), reservations $RESERVE"
    # every rule on: the three policies, with the report page
    run "$nodes" all "${TIME_LIMITS[@]}" "${CHECKPOINTS[@]}" --report "$OUT/$nodes-nodes"
    # allot without each rule in turn, and the three policies with none (the engine before)
    run "$nodes" no-aware --policy allot "${TIME_LIMITS[@]}" "${CHECKPOINTS[@]}" --checkpoint-aware off
    run "$nodes" no-backfill --policy allot "${CHECKPOINTS[@]}"
    run "$nodes" no-checkpoints --policy allot "${TIME_LIMITS[@]}"
    run "$nodes" none --checkpoint-aware off
done
echo "reports: $OUT/*-nodes/index.html; each replay's output: $OUT/*-nodes-*.txt"
