#!/usr/bin/env bash
# Event streams benchmark (not a test): the latency of durable submissions at a fixed offered
# rate with no event stream, with READERS streams that read everything, and with STALLED
# streams that never read (allotd's memory before and after), for this tree and for a base
# revision, in one run. See docs/benchmarks.md, "Event streams: bench/bench_events.sh".
#
#   bench/bench_events.sh                 # this tree against 89f6d26 (before the bounds)
#   BASE= bench/bench_events.sh           # this tree only
#
# What it does:
#   1. builds allotd and bench_events (the client, bench/bench_events.c) of this tree into
#      build-release (NO_BUILD=1: uses what is there), and allotd of BASE (git archive BASE)
#      into build-base-BASE once, kept for the next runs;
#   2. for each revision and each round (none, READERS reading, STALLED never reading):
#      starts a fresh allotd on 127.0.0.1:PORT (a temporary data directory; a platform of
#      one tenant `bench`, workspaces prod and research, NODES nodes of 8 H100), creates
#      USERS viewers of the tenant with a token each (the streams use them in turn: the
#      per-token cap is 16), opens the streams, then submits one-GPU `1h` workloads to
#      bench/research at RATE per second for DURATION_S seconds over CONNS connections,
#      open loop: a request's latency runs from when it was due, so a slow daemon cannot
#      slow the load down and hide its own delay;
#      The streams that never read have a receive buffer of STALLED_RCVBUF bytes, as a client
#      that wants the daemon to hold the most would ask for;
#   3. prints one line per round: p50, p99 and max latency, the streams' state at the end
#      (open, cut off with an overflow event), the events they read; then allotd's RSS and
#      the kernel's TCP memory (/proc/net/sockstat, the whole machine) when the streams are
#      open and the load starts, at its end, LINGER_S seconds later (the streams that never
#      read are still connected), and allotd's peak RSS.
# allotd runs on core 0 and the client on core 1 (taskset) when there are 2 cores or more.
# Everything started is stopped and the temporary directory removed at the end.
#
# Environment (defaults in brackets): RATE [500], DURATION_S [10], READERS [500],
# STALLED [300], STALLED_RCVBUF [4096], LINGER_S [12], CONNS [32], USERS [50], NODES [200],
# PORT [17181], BASE [89f6d26] (empty: this tree only), BUILD [build-release], NO_BUILD=1,
# KEEP=1 (keep the temporary directory).
set -euo pipefail

BENCH_NAME=bench_events
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

RATE=${RATE:-500}
DURATION_S=${DURATION_S:-10}
READERS=${READERS:-500}
STALLED=${STALLED:-300}
STALLED_RCVBUF=${STALLED_RCVBUF:-4096}
LINGER_S=${LINGER_S:-12}
CONNS=${CONNS:-32}
USERS=${USERS:-50}
NODES=${NODES:-200}
PORT=${PORT:-17181}
BASE=${BASE-89f6d26}
BUILD=${BUILD:-build-release}
URL="http://127.0.0.1:$PORT"

for tool in curl jq taskset; do
    command -v "$tool" >/dev/null || bench_die "$tool is missing (scripts/install-deps installs it)"
done
bench_tmp_init allot-bench-events

# ---- builds ----
cd "$ROOT"
HEAD_REV="$(git describe --always --dirty 2>/dev/null || echo this-tree)"
if [ "${NO_BUILD:-0}" != 1 ]; then
    bench_say "building allotd and bench_events ($HEAD_REV) into $BUILD"
    { cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release &&
        cmake --build "$BUILD" --target allotd bench_events; } >"$BENCH_TMP/build.log" 2>&1 ||
        bench_die "build failed: $(tail -5 "$BENCH_TMP/build.log")"
fi
CLIENT="$ROOT/$BUILD/bench_events"
REVS=("$HEAD_REV")
BINS=("$ROOT/$BUILD/allotd")
if [ -n "$BASE" ]; then
    BASE_REV=$(git rev-parse --short "$BASE") || bench_die "no revision $BASE"
    BASE_DIR="$ROOT/build-base-$BASE_REV"
    if [ ! -x "$BASE_DIR/build/allotd" ]; then # a revision's build does not change
        bench_say "building allotd of $BASE_REV into $BASE_DIR"
        rm -rf "$BASE_DIR/src-tree"
        mkdir -p "$BASE_DIR/src-tree"
        git archive "$BASE_REV" | tar -x -C "$BASE_DIR/src-tree"
        { cmake -S "$BASE_DIR/src-tree" -B "$BASE_DIR/build" -G Ninja \
            -DCMAKE_BUILD_TYPE=Release && cmake --build "$BASE_DIR/build" --target allotd; } \
            >"$BENCH_TMP/build-base.log" 2>&1 ||
            bench_die "build of $BASE_REV failed: $(tail -5 "$BENCH_TMP/build-base.log")"
    fi
    REVS=("$BASE_REV" "${REVS[@]}")
    BINS=("$BASE_DIR/build/allotd" "${BINS[@]}")
fi
for b in "${BINS[@]}" "$CLIENT"; do
    [ -x "$b" ] || bench_die "missing $b"
done

bench_pin_pair "the client"

# ---- one round ----
allot_platform "$NODES" "$BENCH_TMP/platform.yaml"

# Starts allotd $1 over a fresh data directory $2; sets DAEMON_PID and TOKEN.
start_daemon() {
    if curl -s -o /dev/null --max-time 1 "$URL/healthz"; then
        bench_die "something already answers on $URL; set PORT"
    fi
    "${PIN_D[@]}" "$1" --listen "127.0.0.1:$PORT" --data "$2" \
        --platform "$BENCH_TMP/platform.yaml" 2>"$2.log" &
    DAEMON_PID=$!
    bench_track "$DAEMON_PID"
    for _ in $(seq 100); do # at most 10 s
        curl -s -o /dev/null --max-time 1 "$URL/readyz" && break
        kill -0 "$DAEMON_PID" 2>/dev/null || bench_die "allotd exited: $(tail -3 "$2.log")"
        sleep 0.1
    done
    curl -sf -o /dev/null --max-time 1 "$URL/readyz" || bench_die "allotd is not ready after 10 s"
    TOKEN=$(cat "$2/admin.token")
}

# USERS viewers of tenant bench, one token each, into file $1.
make_tokens() {
    local i
    : >"$1"
    for i in $(seq 1 "$USERS"); do
        curl -sf --max-time 5 -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
            -d "{\"name\": \"viewer-$i\", \"role\": \"viewer\", \"tenant\": \"bench\"}" \
            "$URL/v1/users" >/dev/null || bench_die "cannot create user viewer-$i"
        curl -sf --max-time 5 -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
            -d "{\"user\": \"viewer-$i\"}" "$URL/v1/tokens" | jq -r .token >>"$1" ||
            bench_die "cannot create a token for viewer-$i"
    done
}

# Runs one round: $1 revision label, $2 allotd, $3 round name, $4 readers, $5 stalled.
# Appends "label round json" to $BENCH_TMP/results.
round() {
    local label=$1 bin=$2 name=$3 readers=$4 stalled=$5 dir out
    dir="$BENCH_TMP/$label-$name"
    start_daemon "$bin" "$dir"
    make_tokens "$dir.tokens"
    bench_say "$label, $name: $readers reading and $stalled stalled streams, $RATE submissions/s for ${DURATION_S}s"
    out=$("${PIN_L[@]}" "$CLIENT" --port "$PORT" --token "$TOKEN" --tokens "$dir.tokens" \
        --workspace bench/research --prefix "$name" --rate "$RATE" --seconds "$DURATION_S" \
        --conns "$CONNS" --readers "$readers" --stalled "$stalled" --pid "$DAEMON_PID" \
        --stalled-rcvbuf "$STALLED_RCVBUF" --linger "$([ "$stalled" = 0 ] && echo 0 || echo "$LINGER_S")") ||
        bench_say "$label, $name: the client reports unanswered submissions"
    kill -0 "$DAEMON_PID" 2>/dev/null || bench_die "allotd died: $(tail -3 "$dir.log")"
    bench_stop_pid "$DAEMON_PID"
    printf '%s %s %s\n' "$label" "$name" "$out" >>"$BENCH_TMP/results"
}

bench_say "$PIN_NOTE; $(nproc) cores, $(uname -r)"
for k in "${!REVS[@]}"; do
    round "${REVS[k]}" "${BINS[k]}" none 0 0
    round "${REVS[k]}" "${BINS[k]}" "$READERS-reading" "$READERS" 0
    round "${REVS[k]}" "${BINS[k]}" "$STALLED-stalled" 0 "$STALLED"
done

# ---- report ----
echo "== event streams: durable submissions at $RATE/s for ${DURATION_S}s, open loop, $CONNS connections ($PIN_NOTE)"
printf '%-22s %-14s %8s %8s %9s %11s %14s %12s\n' revision streams "p50 ms" "p99 ms" \
    "max ms" "ok/sent" "open/cut off" "events read"
while read -r label name json; do
    jq -r --arg l "$label" --arg n "$name" '[$l, $n, .p50_ms, .p99_ms, .max_ms, "\(.ok)/\(.sent)",
        "\(.readers_open_at_end)/\(.readers_overflowed)", .reader_events] | @tsv' <<<"$json" |
        awk -F'\t' '{ printf "%-22s %-14s %8.2f %8.2f %9.2f %11s %14s %12s\n", $1, $2, $3, $4, $5, $6, $7, $8 }'
done <"$BENCH_TMP/results"
echo "== memory (MiB): allotd's RSS and the kernel's TCP memory at the load's start, its end, and LINGER_S (${LINGER_S}s) later"
printf '%-22s %-14s %26s %8s %26s\n' revision streams "RSS start/end/later" "peak" \
    "kernel TCP start/end/later"
while read -r label name json; do
    jq -r --arg l "$label" --arg n "$name" '
        def mib: if . < 0 then "?" else (. / 1024 | floor | tostring) end;
        [$l, $n, "\(.rss_before_kib | mib)/\(.rss_after_kib | mib)/\(.rss_later_kib | mib)",
         (.rss_peak_kib | mib),
         "\(.tcp_before_kib | mib)/\(.tcp_after_kib | mib)/\(.tcp_later_kib | mib)"] | @tsv' <<<"$json" |
        awk -F'\t' '{ printf "%-22s %-14s %26s %8s %26s\n", $1, $2, $3, $4, $5 }'
done <"$BENCH_TMP/results"
echo "== raw"
cat "$BENCH_TMP/results"
p50() { awk -v l="$1" -v n="$2" '$1 == l && $2 == n' "$BENCH_TMP/results" | cut -d' ' -f3- | jq .p50_ms; }
NONE=$(p50 "$HEAD_REV" none)
WITH=$(p50 "$HEAD_REV" "$READERS-reading")
awk -v a="$NONE" -v b="$WITH" -v r="$READERS" 'BEGIN {
    printf "goal: p50 with %d reading streams within 2x of none: %.2f / %.2f ms = %.2fx (%s)\n", \
        r, b, a, (a > 0 ? b / a : 0), ((a > 0 && b <= 2 * a) ? "met" : "NOT met") }'
