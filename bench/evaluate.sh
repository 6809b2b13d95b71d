#!/usr/bin/env bash
# Trace evaluation (not a test): the Philly trace replayed under the three policies
# (static, shared, allot) at three cluster sizes, offered load near 70%, 90% and 110%, with
# a report page per size. See docs/evaluation.md. Run from the repository root:
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
for nodes in 67 52 43; do
    echo "== $((nodes * 8)) GPUs ($nodes nodes), reservations $RESERVE"
    "${PIN[@]}" "$ROOT/$BUILD/allot" sim --trace "$TRACE" --nodes "$nodes" --reserve "$RESERVE" \
        --report "$OUT/$nodes-nodes" | tee "$OUT/$nodes-nodes.txt" | sed -n '1,4p'
    grep -o '^[a-z]*: .*replayed in [0-9.]* s' "$OUT/$nodes-nodes.txt" | sed 's/: .*replayed in/: replayed in/'
done
echo "reports: $OUT/*-nodes/index.html"
