#!/usr/bin/env bash
# Restart benchmark (not a test): how long allotd takes to rebuild its state and listen, from
# its whole journal and from a snapshot, with N live workloads. See docs/benchmarks.md,
# "Restart: bench/bench_restart.sh".
#
#   bench/bench_restart.sh                     # N = 10000 and 100000
#   bench/bench_restart.sh --counts "1000 5000"
#   bench/bench_restart.sh --history "100000 1000000" [--live 100000]
#
# For each N, in a fresh data directory (SQLite, on this machine's disk):
#   1. allotd --no-virtual-nodes --snapshot-every 0 with a platform of 16 nodes x 8 GPUs and
#      no agents: N one-GPU submissions (bench_load --submit-only, 16 connections) leave 128
#      workloads placed and N - 128 waiting, all live; then kill -9;
#   2. a restart with --snapshot-every 0: the whole journal is replayed (REPLAY); stopped;
#   3. a restart that writes a snapshot when it stops (SIGINT), then one more restart that
#      starts from that snapshot and an empty journal tail (SNAPSHOT);
# each time from the exec to the daemon's log line "listening on" (the time in the line, to
# the millisecond), and the workload count checked after each restart. Prints, per N: the
# journal entries, the database size, both start times and the snapshot's size.
#
# With --history "H ...": for each H, a daemon with simulated nodes, --keep-finished 1s and
# snapshots every 10000 ops first runs H one-GPU workloads of 1 ms to their end (they leave
# the engine for the history), then holds LIVE live ones; it is killed (kill -9: the newest
# snapshot and the journal after it) and restarted, then stopped cleanly and restarted (the
# snapshot alone). Prints per H: the history rows, the journal rows kept, the database size
# and both start times, to show that a start does not grow with history.
set -euo pipefail

BENCH_NAME=bench_restart
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

COUNTS="10000 100000"
HISTORY=""
LIVE=100000
ALLOT_PORT=17283
while [ $# -gt 0 ]; do
    case "$1" in
    --counts) COUNTS=$2; shift 2 ;;
    --history) HISTORY=$2; shift 2 ;;
    --live) LIVE=$2; shift 2 ;;
    --port) ALLOT_PORT=$2; shift 2 ;;
    -h | --help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "usage: bench/bench_restart.sh [--counts \"N ...\"] [--port P]" >&2; exit 2 ;;
    esac
done
for tool in curl python3 sqlite3; do
    command -v "$tool" >/dev/null || bench_die "$tool is missing"
done
allot_build
bench_tmp_init allot-bench-restart
ALLOT_URL="http://127.0.0.1:$ALLOT_PORT"
allot_platform 16 "$BENCH_TMP/platform.yaml"
DATA="$BENCH_TMP/data"

# Starts allotd with "$@" on DATA; waits for its "listening on" line. Sets PID and STARTED_MS
# (milliseconds from the exec to that line).
daemon_start() {
    local log="$BENCH_TMP/allotd.log" t0
    : >"$log"
    t0=$(date +%s%3N)
    "$ALLOTD" --listen "127.0.0.1:$ALLOT_PORT" --data "$DATA" "$@" 2>"$log" &
    PID=$!
    bench_track "$PID"
    for _ in $(seq 1200); do # at most 120 s
        grep -q "listening on" "$log" && break
        kill -0 "$PID" 2>/dev/null || bench_die "allotd exited: $(tail -3 "$log")"
        sleep 0.1
    done
    grep -q "listening on" "$log" || bench_die "allotd did not start in 120 s"
    STARTED_MS=$(python3 - "$log" "$t0" <<'EOF'
import datetime, re, sys
line = next(l for l in open(sys.argv[1]) if "listening on" in l)
t = re.search(r"time=(\S+)Z", line).group(1)
at = datetime.datetime.fromisoformat(t).replace(tzinfo=datetime.timezone.utc).timestamp()
print(round(at * 1000 - int(sys.argv[2])))
EOF
    )
    SNAPSHOT_LINE=$(grep -o "started from the snapshot[^\"]*" "$log" || true)
}

daemon_stop() { # $1: signal
    kill "-$1" "$PID"
    wait "$PID" 2>/dev/null || true
}

live_count() { # workloads the daemon holds (pending + running), from /metrics
    curl -sf -H "Authorization: Bearer $(cat "$DATA/admin.token")" "$ALLOT_URL/metrics" |
        awk '/^allot_workloads\{/ && (/state="pending"/ || /state="running"/) { n += $2 } END { print n + 0 }'
}

metric() { # $1: a metric without labels
    curl -sf -H "Authorization: Bearer $(cat "$DATA/admin.token")" "$ALLOT_URL/metrics" |
        awk -v m="$1" '$1 == m { print $2 }'
}

if [ -n "$HISTORY" ]; then
    echo "== restart of allotd with $LIVE live workloads after a history of H ended ones; $(nproc) cores, SQLite"
    printf '%10s %10s %12s %10s %16s %16s\n' "history" "live" "journal kept" "db MiB" "after kill ms" "after stop ms"
    for H in $HISTORY; do
        rm -rf "$DATA"
        daemon_start --keep-finished 1s --platform "$BENCH_TMP/platform.yaml"
        TOKEN=$(cat "$DATA/admin.token")
        SUB=$("$BENCH_LOAD" --port "$ALLOT_PORT" --token "$TOKEN" --tenant bench \
            --workspace research --count "$H" --conns 16 --submit-only --duration 1ms)
        bench_say "H=$H: submitted: $SUB"
        for _ in $(seq 3600); do # the history: every one ended and forgotten (at most 1 h)
            [ "$(metric allot_workloads_forgotten_total)" -ge "$H" ] 2>/dev/null && break
            sleep 1
        done
        [ "$(metric allot_workloads_forgotten_total)" -ge "$H" ] ||
            bench_die "H=$H: only $(metric allot_workloads_forgotten_total) forgotten after 1 h"
        "$BENCH_LOAD" --port "$ALLOT_PORT" --token "$TOKEN" --tenant bench --workspace research \
            --count "$LIVE" --conns 16 --submit-only >/dev/null
        daemon_stop KILL
        daemon_start --keep-finished 1s
        AFTER_KILL=$STARTED_MS
        [ "$(live_count)" = "$LIVE" ] || bench_die "H=$H: $(live_count) live after the restart"
        daemon_stop INT
        daemon_start --keep-finished 1s
        AFTER_STOP=$STARTED_MS
        [ "$(live_count)" = "$LIVE" ] || bench_die "H=$H: $(live_count) live after the restart"
        daemon_stop INT
        ROWS=$(sqlite3 "$DATA/allot.db" "SELECT (SELECT count(*) FROM history) || ' ' || (SELECT count(*) FROM journal)")
        DB=$(du -sm "$DATA" | cut -f1)
        printf '%10s %10s %12s %10s %16s %16s\n' "${ROWS% *}" "$LIVE" "${ROWS#* }" "$DB" \
            "$AFTER_KILL" "$AFTER_STOP"
    done
    exit 0
fi

echo "== restart of allotd: the whole journal replayed vs a snapshot; $(nproc) cores, SQLite"
printf '%10s %12s %10s %12s %12s %14s\n' "live" "journal" "db MiB" "replay ms" "snapshot ms" "snapshot MiB"
for N in $COUNTS; do
    rm -rf "$DATA"
    daemon_start --no-virtual-nodes --snapshot-every 0 --platform "$BENCH_TMP/platform.yaml"
    SUB=$("$BENCH_LOAD" --port "$ALLOT_PORT" --token "$(cat "$DATA/admin.token")" --tenant bench \
        --workspace research --count "$N" --conns 16 --submit-only)
    bench_say "N=$N: submitted: $SUB"
    daemon_stop KILL
    ENTRIES=$(sqlite3 "$DATA/allot.db" "SELECT count(*) FROM journal")
    DB=$(du -sm "$DATA" | cut -f1)
    daemon_start --no-virtual-nodes --snapshot-every 0
    REPLAY=$STARTED_MS
    [ "$(live_count)" = "$N" ] || bench_die "after the replay: $(live_count) live, not $N"
    daemon_stop INT
    daemon_start --no-virtual-nodes --snapshot-every 100000000 # replays; a snapshot at the stop
    daemon_stop INT
    SNAP_BYTES=$(sqlite3 "$DATA/allot.db" "SELECT length(engine) + length(controller) FROM snapshots ORDER BY seq DESC LIMIT 1")
    daemon_start --no-virtual-nodes --snapshot-every 100000000
    SNAP=$STARTED_MS
    [ -n "$SNAPSHOT_LINE" ] || bench_die "the last start did not use the snapshot"
    [ "$(live_count)" = "$N" ] || bench_die "after the snapshot: $(live_count) live, not $N"
    daemon_stop INT
    printf '%10s %12s %10s %12s %12s %14.1f\n' "$N" "$ENTRIES" "$DB" "$REPLAY" "$SNAP" \
        "$(python3 -c "print($SNAP_BYTES / 1048576)")"
done
