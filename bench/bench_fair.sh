#!/usr/bin/env bash
# One tenant cannot slow another (issue 16; not a test): tenant B's submission latency alone,
# and while tenant A floods the API with submissions and its workspace is at its queue cap.
# See docs/benchmarks.md, "Fair service: bench/bench_fair.sh".
#
#   bench/bench_fair.sh                 # build build-release/allotd, run the rounds
#   NO_BUILD=1 BUILD=build bench/bench_fair.sh
#
# What it does:
#   1. builds the release daemon (unless NO_BUILD=1) and starts it on 127.0.0.1:PORT with a
#      fresh data directory and a platform of two tenants: `flood` (workspace flood/ws, one
#      node of 8 H100: nearly all it submits stays queued) and `quiet` (workspace quiet/ws,
#      NODES nodes, its queue caps raised out of the way: 1,000,000 and 10,000,000); a member
#      token for each tenant;
#   2. round "alone": B (quiet's token) submits for DURATION_S seconds over B_CONNS
#      connections (wrk, bench/bench_api_submit.lua), nothing else runs;
#   3. fills flood/ws to its queue cap (limits.queued, CAP) with A's token (wrk over A_CONNS
#      connections until its submissions are refused with 429);
#   4. round "flood": A floods (wrk, A_CONNS connections, every answer a 429 of the queue cap)
#      and B submits as in round 2, both for DURATION_S seconds;
#   5. prints B's p50/p99 of both rounds and their ratio (goal: p99 within 1.5x), A's request
#      rate and answers, and checks that flood/ws holds exactly CAP queued workloads.
# allotd runs on core 0 and both wrk on core 1 (taskset) when the machine has 2 cores or
# more. Every process it starts is stopped by pid when it ends.
#
# Environment (defaults in brackets): PORT [17172], A_CONNS [64], B_CONNS [4], DURATION_S
# [10], CAP [10000] (flood/ws's limits.queued), NODES [50], BUILD [build-release],
# NO_BUILD=1, KEEP=1 to keep the temporary directory.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=${PORT:-17172}
A_CONNS=${A_CONNS:-64}
B_CONNS=${B_CONNS:-4}
DURATION_S=${DURATION_S:-10}
CAP=${CAP:-10000}
NODES=${NODES:-50}
BUILD=${BUILD:-build-release}
BASE="http://127.0.0.1:$PORT"
BENCH_NAME=bench_fair

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
for tool in wrk curl jq; do
    command -v "$tool" >/dev/null || bench_die "$tool is missing (apt-get install -y $tool)"
done

cd "$ROOT"
bench_build_allotd || bench_die "no daemon built at $ROOT/$BUILD/allotd"
bench_pin_pair wrk
bench_tmp_init allot-bench-fair

# ---- platform: flood (one node) and quiet (NODES nodes) ----
{
    printf 'tenants:\n'
    printf '  - name: flood\n    workspaces:\n      - name: ws\n        limits: {queued: %s}\n' "$CAP"
    # B's own caps are out of its way: it measures latency, not its cap
    printf '  - name: quiet\n    limits: {queued: 10000000}\n    workspaces:\n'
    printf '      - name: ws\n        limits: {queued: 1000000}\n'
    printf 'clusters:\n  - name: c1\nnodes:\n'
    printf '  - {name: f1, cluster: c1, tenant: flood, cpu: 128, memory: 2Ti, gpus: [{model: H100-80GB, count: 8}]}\n'
    for i in $(seq 1 "$NODES"); do
        printf '  - {name: q%s, cluster: c1, tenant: quiet, cpu: 128, memory: 2Ti, gpus: [{model: H100-80GB, count: 8}]}\n' "$i"
    done
} >"$BENCH_TMP/platform.yaml"

if curl -s -o /dev/null --max-time 1 "$BASE/healthz"; then
    bench_die "something already answers on $BASE; set PORT"
fi
"${PIN_D[@]}" "$ALLOTD" --listen "127.0.0.1:$PORT" --data "$BENCH_TMP/data" \
    --platform "$BENCH_TMP/platform.yaml" 2>"$BENCH_TMP/allotd.log" &
DAEMON_PID=$!
bench_track "$DAEMON_PID"
for _ in $(seq 100); do # at most 10 s
    curl -s -o /dev/null --max-time 1 "$BASE/readyz" && break
    kill -0 "$DAEMON_PID" 2>/dev/null || bench_die "allotd exited: $(tail -3 "$BENCH_TMP/allotd.log")"
    sleep 0.1
done
curl -sf -o /dev/null --max-time 1 "$BASE/readyz" || bench_die "allotd is not ready after 10 s"
ADMIN=$(cat "$BENCH_TMP/data/admin.token")
api() { # method path [body] -> the answer's body; fails on an error status
    curl -sf --max-time 10 -X "$1" -H "Authorization: Bearer $ADMIN" \
        -H 'Content-Type: application/json' ${3:+-d "$3"} "$BASE$2"
}
member_token() { # $1: user, $2: tenant -> a member token of tenant
    api POST /v1/users "{\"name\": \"$1\", \"role\": \"member\", \"tenant\": \"$2\"}" >/dev/null
    api POST /v1/tokens "{\"user\": \"$1\"}" | jq -r .token
}
A_TOKEN=$(member_token a flood)
B_TOKEN=$(member_token b quiet)

submit_wrk() { # $1: token, $2: workspace, $3: connections, $4: seconds, $5: run name, $6: out
    ALLOT_TOKEN=$1 BENCH_WS=$2 BENCH_RUN=$5 BENCH_ACKED=/dev/null BENCH_DURATION=1h \
        "${PIN_L[@]}" wrk -t1 -c"$3" -d"$4s" --timeout 10s --latency \
        -s "$ROOT/bench/bench_api_submit.lua" "$BASE/v1/workloads" >"$6"
}
pending() { # $1: workspace path -> its queued workloads
    api GET "/v1/workspaces/$1" | jq -r .usage.pending
}

bench_say "allotd $(git describe --always --dirty 2>/dev/null || echo '?'), pid $DAEMON_PID; $PIN_NOTE"
bench_say "A: $A_CONNS connections, flood/ws capped at $CAP queued; B: $B_CONNS connections; ${DURATION_S}s per round"

# ---- round 1: B alone ----
submit_wrk "$B_TOKEN" quiet/ws "$B_CONNS" "$DURATION_S" alone "$BENCH_TMP/b-alone.txt"

# ---- fill A's workspace to its cap ----
for round in $(seq 20); do # bounded: 20 rounds of 3 s
    [ "$(pending flood/ws)" -ge "$CAP" ] && break
    submit_wrk "$A_TOKEN" flood/ws "$A_CONNS" 3 "fill$round" "$BENCH_TMP/a-fill.txt"
done
FILLED=$(pending flood/ws)
[ "$FILLED" -ge "$CAP" ] || bench_die "flood/ws holds $FILLED queued workloads, not $CAP"

# ---- round 2: A floods, B submits ----
submit_wrk "$A_TOKEN" flood/ws "$A_CONNS" "$DURATION_S" flood "$BENCH_TMP/a-flood.txt" &
A_WRK=$!
BENCH_CLEANUPS+=("kill $A_WRK")
sleep 0.5 # A's flood is under way before B starts
submit_wrk "$B_TOKEN" quiet/ws "$B_CONNS" "$((DURATION_S - 1))" during "$BENCH_TMP/b-flood.txt"
wait "$A_WRK"
kill -0 "$DAEMON_PID" 2>/dev/null || bench_die "allotd died during the run: $(tail -3 "$BENCH_TMP/allotd.log")"
AFTER=$(pending flood/ws)

read -r B1_RPS B1_P50 B1_P99 B1_NON _ < <(wrk_figures "$BENCH_TMP/b-alone.txt")
read -r B2_RPS B2_P50 B2_P99 B2_NON _ < <(wrk_figures "$BENCH_TMP/b-flood.txt")
read -r A_RPS A_P50 A_P99 A_NON _ < <(wrk_figures "$BENCH_TMP/a-flood.txt")
echo "== B alone: POST /v1/workloads to quiet/ws"
sed -n '/Latency Distribution/,/Requests\/sec/p; /^bench:/p' "$BENCH_TMP/b-alone.txt"
echo "== B while A floods"
sed -n '/Latency Distribution/,/Requests\/sec/p; /^bench:/p' "$BENCH_TMP/b-flood.txt"
echo "== A's flood (flood/ws at its cap: answers 429)"
sed -n '/Requests\/sec/p; /^bench:/p' "$BENCH_TMP/a-flood.txt"
echo "== summary ($PIN_NOTE)"
printf '%-28s %9s %9s %9s %9s\n' round "req/s" "p50 ms" "p99 ms" "non-2xx"
printf '%-28s %9s %9s %9s %9s\n' "B alone" "$B1_RPS" "$B1_P50" "$B1_P99" "$B1_NON"
printf '%-28s %9s %9s %9s %9s\n' "B while A floods" "$B2_RPS" "$B2_P50" "$B2_P99" "$B2_NON"
printf '%-28s %9s %9s %9s %9s\n' "A flooding (429s)" "$A_RPS" "$A_P50" "$A_P99" "$A_NON"
awk -v a50="$B1_P50" -v a99="$B1_P99" -v f50="$B2_P50" -v f99="$B2_P99" 'BEGIN {
    printf "B under the flood / alone: p50 %.2fx, p99 %.2fx (goal: p99 within 1.5x)\n",
        (a50 > 0 ? f50 / a50 : 0), (a99 > 0 ? f99 / a99 : 0) }'
echo "flood/ws queued: $FILLED after the fill, $AFTER after the flood (cap $CAP)"
[ "$AFTER" -eq "$CAP" ] || bench_die "flood/ws holds $AFTER queued workloads, not its cap $CAP"
if [ "$B1_NON" -ne 0 ] || [ "$B2_NON" -ne 0 ]; then
    bench_die "B got answers other than 201"
fi
