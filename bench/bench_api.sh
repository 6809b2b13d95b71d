#!/usr/bin/env bash
# Controller API benchmark (not a test): durable submissions/s and get/list requests/s of
# allotd, measured with wrk. See docs/benchmarks.md, "Controller API: bench/bench_api.sh".
#
#   bench/bench_api.sh                      # build build-release/allotd, run the three rounds
#   STORE=postgresql bench/bench_api.sh     # the same with allotd's state in PostgreSQL 15
#
# What it does:
#   1. builds the release daemon (cmake -S . -B build-release -G Ninja
#      -DCMAKE_BUILD_TYPE=Release; cmake --build build-release --target allotd);
#   2. writes a platform into a temporary directory (one tenant `bench`, workspaces
#      bench/a and bench/b without limits, their queue caps raised to 1,000,000 and the
#      tenant's to 10,000,000, NODES nodes of 8 H100 GPUs) and starts allotd on
#      127.0.0.1:PORT with a fresh data directory in the same temporary directory;
#   3. round "submit": POST /v1/workloads for DURATION_S seconds over CONNS connections,
#      every request a new name (bench/bench_api_submit.lua); each 201 reply means the
#      submission was committed (SQLite WAL, synchronous=FULL; or, with STORE=postgresql, a
#      private PostgreSQL started for the run from Debian's binaries, fsync and
#      synchronous_commit on, over its Unix socket: tests/integration/pgcluster.py) before
#      the reply;
#   4. checks that every acknowledged submission is listed by the server afterwards
#      (GET /v1/workloads, paged) and that the server holds no more than those plus the
#      requests still in flight when wrk stopped;
#   5. rounds "get" (GET /v1/workloads/bench/a/NAME) and "list" (GET
#      /v1/workloads?limit=20), DURATION_S seconds each.
# The daemon runs on core 0 and wrk on core 1 (taskset) when the machine has 2 cores or
# more; on the 2-core reference machine they share it and nothing else is left.
#
# Environment (defaults in brackets): STORE [sqlite] or postgresql, PORT [17171], CONNS [64],
# DURATION_S [10],
# NODES [200], WL_DURATION [1h] (the submitted workloads' `duration`; a short one makes
# them finish during the run, so the engine also schedules finishes), BUILD [build-release],
# NO_BUILD=1 to use an existing $BUILD/allotd, PERF=submit, get or list to record
# `perf record --call-graph dwarf` of the daemon during that round (into $PERF_OUT
# [./perf-allotd.data]; read it with `perf report -i FILE --children`),
# KEEP=1 to keep the temporary directory (its path is printed).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=${PORT:-17171}
CONNS=${CONNS:-64}
DURATION_S=${DURATION_S:-10}
NODES=${NODES:-200}
WL_DURATION=${WL_DURATION:-1h}
BUILD=${BUILD:-build-release}
PERF=${PERF:-}
PERF_OUT=${PERF_OUT:-$PWD/perf-allotd.data}
STORE=${STORE:-sqlite}
case "$STORE" in sqlite | postgresql) ;; *) echo "bench_api: STORE is sqlite or postgresql" >&2; exit 2 ;; esac
BASE="http://127.0.0.1:$PORT"

say() { printf 'bench_api: %s\n' "$*" >&2; }
die() {
    say "$*"
    exit 1
}

# ---- tools ----
if ! command -v wrk >/dev/null; then
    [ "$(id -u)" = 0 ] || die "wrk is missing; install it (apt-get install -y wrk) or run as root"
    say "installing wrk (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null ||
        { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null; } ||
        die "cannot install wrk"
fi
for tool in curl jq; do
    command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-deps installs it)"
done

# ---- build ----
cd "$ROOT"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_build_allotd || die "no daemon built at $ROOT/$BUILD/allotd"

# ---- pinning ----
bench_pin_pair wrk

# ---- clean-up of everything started here ----
TMP=$(mktemp -d /tmp/allot-bench-api.XXXXXX)
DAEMON_PID=""
PERF_PID=""
PG_PID=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$PERF_PID" ] && kill -0 "$PERF_PID" 2>/dev/null; then
        kill -INT "$PERF_PID" 2>/dev/null || true
        wait "$PERF_PID" 2>/dev/null || true
    fi
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        for _ in $(seq 50); do # at most 5 s, then kill -9
            kill -0 "$DAEMON_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    if [ -n "$PG_PID" ] && kill -0 "$PG_PID" 2>/dev/null; then # it stops its server
        kill -TERM "$PG_PID" 2>/dev/null || true
        wait "$PG_PID" 2>/dev/null || true
    fi
    if [ "${KEEP:-0}" = 1 ]; then
        say "kept $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- platform ----
{
    # queue caps (docs/policy.md, "Queue caps") out of the way: the rounds measure the API
    printf 'tenants:\n  - name: bench\n    isolation: shared\n    limits: {queued: 10000000}\n'
    printf '    workspaces:\n'
    printf '      - name: a\n        limits: {queued: 1000000}\n'
    printf '      - name: b\n        limits: {queued: 1000000}\n'
    printf 'clusters:\n  - name: c1\nnodes:\n'
    for i in $(seq -w 1 "$NODES"); do
        printf '  - name: n%s\n    cluster: c1\n    tenant: bench\n    cpu: 128\n' "$i"
        printf '    memory: 2Ti\n    gpus:\n      - {model: H100-80GB, count: 8}\n'
    done
} >"$TMP/platform.yaml"

# ---- daemon ----
if curl -s -o /dev/null --max-time 1 "$BASE/healthz"; then
    die "something already answers on $BASE; set PORT"
fi
STORE_ARGS=()
if [ "$STORE" = postgresql ]; then
    # a private server, held by this Python process: it stops the server and removes its
    # directory when it ends (SIGTERM from the clean-up, or anything else)
    python3 - "$ROOT/tests/integration" "$TMP/pg.uri" <<'PYEOF' &
import os, signal, sys, time
sys.path.insert(0, sys.argv[1])
import pgcluster
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
uri = pgcluster.start().database("bench")
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(uri)
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
while True:
    time.sleep(1)
PYEOF
    PG_PID=$!
    for _ in $(seq 300); do # at most 30 s
        [ -s "$TMP/pg.uri" ] && break
        kill -0 "$PG_PID" 2>/dev/null || die "the private PostgreSQL did not start"
        sleep 0.1
    done
    [ -s "$TMP/pg.uri" ] || die "the private PostgreSQL did not start in 30 s"
    STORE_ARGS=(--store "$(cat "$TMP/pg.uri")")
fi
"${PIN_D[@]}" "$ALLOTD" --listen "127.0.0.1:$PORT" --data "$TMP/data" "${STORE_ARGS[@]}" \
    --platform "$TMP/platform.yaml" 2>"$TMP/allotd.log" &
DAEMON_PID=$!
for _ in $(seq 100); do # at most 10 s
    curl -s -o /dev/null --max-time 1 "$BASE/readyz" && break
    kill -0 "$DAEMON_PID" 2>/dev/null || die "allotd exited: $(tail -3 "$TMP/allotd.log")"
    sleep 0.1
done
curl -sf -o /dev/null --max-time 1 "$BASE/readyz" || die "allotd is not ready after 10 s"
TOKEN=$(cat "$TMP/data/admin.token")
AUTH="Authorization: Bearer $TOKEN"

say "allotd $(git describe --always --dirty 2>/dev/null || echo '?'), pid $DAEMON_PID, store $STORE; $PIN_NOTE"
say "platform: 1 tenant, 2 workspaces without limits, $NODES nodes x 8 H100 ($((NODES * 8)) GPUs)"
say "wrk: 1 thread, $CONNS connections, ${DURATION_S}s per round; $(nproc) cores, $(uname -r)"

# ---- round 1: durable submissions ----
RUN="r$(date +%s)"
perf_start() { # $1: the round about to start
    [ "$PERF" = "$1" ] || return 0
    # starts after a second of load, records for DURATION_S - 2 seconds
    (sleep 1 && exec perf record -F 999 --call-graph dwarf -o "$PERF_OUT" -p "$DAEMON_PID" -- sleep $((DURATION_S - 2))) \
        >"$TMP/perf.log" 2>&1 &
    PERF_PID=$!
}
perf_wait() {
    [ -n "$PERF_PID" ] || return 0
    wait "$PERF_PID" || true
    PERF_PID=""
    say "perf data of the $PERF round: $PERF_OUT (perf report -i $PERF_OUT --children)"
}
perf_start submit
commit_stats() { # -> "commits seconds" from /metrics
    curl -s -H "$AUTH" "$BASE/metrics" |
        awk '/^allot_store_commit_seconds_count /{c=$2} /^allot_store_commit_seconds_sum /{s=$2}
             END {print c + 0, s + 0}'
}
read -r COMMITS0 COMMIT_S0 < <(commit_stats)
ALLOT_TOKEN=$TOKEN BENCH_RUN=$RUN BENCH_ACKED="$TMP/acked" BENCH_DURATION=$WL_DURATION \
    "${PIN_L[@]}" wrk -t1 -c"$CONNS" -d"${DURATION_S}s" --timeout 10s --latency \
    -s "$ROOT/bench/bench_api_submit.lua" "$BASE/v1/workloads" >"$TMP/wrk-submit.txt"
perf_wait
sleep 0.5 # the replies wrk did not wait for are committed by now
read -r COMMITS1 COMMIT_S1 < <(commit_stats)
# group commit latency histogram (whole life of the daemon: the submit round, the import)
COMMIT_HIST=$(curl -s -H "$AUTH" "$BASE/metrics" | awk -F'[{}" ]+' '
    /^allot_store_commit_seconds_bucket/ {
        le = $3; n = $NF
        if (n != prev) printf "%s<= %s s: %d", sep, le, n - prev; else next
        sep = ", "; prev = n
    }')

# ---- correctness: every acknowledged submission is on the server ----
: >"$TMP/listed"
AFTER=""
for _ in $(seq 10000); do # bounded: 10,000 pages of 1,000
    PAGE=$(curl -sf --max-time 10 -H "$AUTH" "$BASE/v1/workloads?limit=1000${AFTER:+&after=$AFTER}") ||
        die "listing the workloads failed"
    jq -r '.items[].name' <<<"$PAGE" >>"$TMP/listed"
    AFTER=$(jq -r '.next // empty' <<<"$PAGE")
    [ -n "$AFTER" ] || break
done
sort -o "$TMP/listed" "$TMP/listed"
sort "$TMP/acked" >"$TMP/acked.sorted" # full names: bench/WS/NAME
N_ACKED=$(wc -l <"$TMP/acked.sorted")
N_LISTED=$(wc -l <"$TMP/listed")
N_LOST=$(comm -23 "$TMP/acked.sorted" "$TMP/listed" | wc -l)
N_EXTRA=$(comm -13 "$TMP/acked.sorted" "$TMP/listed" | wc -l)
N_DUP=$(uniq -d "$TMP/listed" | wc -l)
read -r S_RPS S_P50 S_P99 S_NON2XX S_ERR < <(wrk_figures "$TMP/wrk-submit.txt")

# ---- rounds 2 and 3: get and list ----
GET_NAME=$(head -1 "$TMP/acked")
perf_start get
"${PIN_L[@]}" wrk -t1 -c"$CONNS" -d"${DURATION_S}s" --timeout 10s --latency -H "$AUTH" \
    "$BASE/v1/workloads/$GET_NAME" >"$TMP/wrk-get.txt"
perf_wait
perf_start list
"${PIN_L[@]}" wrk -t1 -c"$CONNS" -d"${DURATION_S}s" --timeout 10s --latency -H "$AUTH" \
    "$BASE/v1/workloads?limit=20" >"$TMP/wrk-list.txt"
perf_wait
read -r G_RPS G_P50 G_P99 G_NON2XX G_ERR < <(wrk_figures "$TMP/wrk-get.txt")
read -r L_RPS L_P50 L_P99 L_NON2XX L_ERR < <(wrk_figures "$TMP/wrk-list.txt")
kill -0 "$DAEMON_PID" 2>/dev/null || die "allotd died during the run: $(tail -3 "$TMP/allotd.log")"

# ---- report ----
echo "== submit: POST /v1/workloads (each reply after its durable commit)"
sed -n '/Latency Distribution/,/Requests\/sec/p; /^bench:/p' "$TMP/wrk-submit.txt"
echo "== get: GET /v1/workloads/$GET_NAME"
sed -n '/Latency Distribution/,/Requests\/sec/p' "$TMP/wrk-get.txt"
echo "== list: GET /v1/workloads?limit=20"
sed -n '/Latency Distribution/,/Requests\/sec/p' "$TMP/wrk-list.txt"
echo "== check"
echo "acknowledged (201) submissions:            $N_ACKED"
echo "workloads listed by the server:            $N_LISTED"
echo "acknowledged but not listed (lost):        $N_LOST"
echo "listed, never acknowledged (in flight):    $N_EXTRA (at most $CONNS: replies wrk stopped waiting for)"
echo "names listed twice:                        $N_DUP"
awk -v c="$((COMMITS1 - COMMITS0))" -v s0="$COMMIT_S0" -v s1="$COMMIT_S1" -v n="$N_LISTED" 'BEGIN {
    printf "group commits in the submit round:         %d (%.1f submissions per commit, %.3f ms per commit)\n",
        c, c ? n / c : 0, c ? (s1 - s0) * 1000 / c : 0 }'
echo "group commit latency (commits per bucket):  $COMMIT_HIST"
echo "== summary ($PIN_NOTE; $CONNS connections, ${DURATION_S}s per round)"
printf '%-32s %10s %9s %9s %8s %7s  %s\n' round "req/s" "p50 ms" "p99 ms" "non-2xx" errors target
printf '%-32s %10s %9s %9s %8s %7s  %s\n' "submit (durable)" "$S_RPS" "$S_P50" "$S_P99" \
    "$S_NON2XX" "$S_ERR" ">= 5,000/s, p99 < 20 ms"
printf '%-32s %10s %9s %9s %8s %7s  %s\n' "get one workload" "$G_RPS" "$G_P50" "$G_P99" \
    "$G_NON2XX" "$G_ERR" ">= 20,000/s"
printf '%-32s %10s %9s %9s %8s %7s  %s\n' "list ?limit=20" "$L_RPS" "$L_P50" "$L_P99" \
    "$L_NON2XX" "$L_ERR" ">= 20,000/s"

if [ "$N_LOST" -ne 0 ] || [ "$N_DUP" -ne 0 ] || [ "$N_EXTRA" -gt "$CONNS" ]; then
    say "FAILED: $N_LOST acknowledged submissions missing, $N_DUP duplicated, $N_EXTRA unexplained"
    exit 1
fi
echo "check: every acknowledged submission is listed ($N_ACKED acknowledged, $N_LISTED listed)"
