#!/usr/bin/env bash
# Fleet benchmark (not a test): what N node agents cost allotd while idle, and how fast a
# placement reaches its agent, with the N agents impersonated by one process
# (bench/bench_fleet.c) speaking the agents' protocol (docs/agent.md) on 127.0.0.1.
#
#   bench/bench_fleet.sh                               # N = 1000, 5000, 10000, delta reports
#   bench/bench_fleet.sh --agents 1000,3000 --mode legacy --interval 1000   # the agent before
#   bench/bench_fleet.sh --keepalive 5000
#
# What it does, for each N of --agents (a fresh allotd each):
#   1. starts allotd --no-virtual-nodes on 127.0.0.1:PORT (temporary data directory, a
#      platform of one tenant `bench`, its workspace `work`, and N nodes n1..nN of 8
#      H100-80GB), pinned to core 0 (taskset), with --max-connections N + 1000;
#   2. runs bench_fleet on core 1: the platform admin makes a node token for each node
#      (POST /v1/tokens {node}, JOINS at once), then every agent sends its first report (JOINS
#      at once); every agent then holds a poll (wait = --interval in legacy mode, --keepalive in
#      delta mode) and sends the next as soon as it is answered;
#   3. after SETTLE seconds, measures IDLE seconds: allotd's CPU (utime + stime of
#      /proc/PID/stat, % of one core), its RSS (VmRSS) at the end, the reports/s the agents
#      sent;
#   4. submits COUNT one-GPU workloads (RATE per second) and measures from each submission to
#      the answer that brings it to its agent (p50, p99); the agent reports it running on a
#      pool connection at once, and exited (code 0) RUN seconds later;
#   5. checks: every node ready with its agent reporting (GET /v1/nodes, paged), COUNT
#      workloads finished, lines "no report for" in allotd's log after the joins; counts
#      errors (answers other than expected, connection failures, answers that are not the
#      node's desired set).
# Prints one row per N, with the parameters. Everything started is stopped (by pid) and the
# temporary directory removed at the end, also on failure or ^C.
set -euo pipefail

BENCH_NAME=bench_fleet
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

usage() {
    cat <<EOF
usage: bench/bench_fleet.sh [options]
  --agents LIST    numbers of agents, one fresh allotd each (default 1000,5000,10000)
  --mode M         delta (default, today's agent): the inventory in the first report and
                   when an answer says "inventory_wanted": true, running workloads until a
                   report that listed them is answered, wait = keepalive; legacy (the agent
                   before delta reports): wait = interval, the inventory and every running
                   workload in every report
  --interval MS    legacy: the wait of a held poll, the agent's --interval (default 1000)
  --keepalive MS   delta: the wait of a held poll (default 30000, allot-agent's --keepalive)
  --idle S         the idle window measured (default 20)
  --settle S       seconds between the last join and the idle window (default 10)
  --count K        one-GPU workloads submitted for the dispatch latency (default 200)
  --rate R         submissions per second (default 20)
  --run S          seconds a workload runs before its agent reports it exited (default 1)
  --joins J        node tokens made at once (all before the first report), then agents
                   sending their first report at once (default 200)
  --port P         allotd's port on 127.0.0.1 (default 17290)
  -h, --help       this help
environment: BUILD [build-release], NO_BUILD=1, KEEP=1 (keep the temporary directory)
EOF
}

AGENTS_LIST=1000,5000,10000
MODE=delta
INTERVAL=1000
KEEPALIVE=30000 # allot-agent's default --keepalive
IDLE=20
SETTLE=10
COUNT=200
RATE=20
RUN=1
JOINS=200
ALLOT_PORT=17290
while [ $# -gt 0 ]; do
    case "$1" in
    --agents) AGENTS_LIST=$2; shift 2 ;;
    --mode) MODE=$2; shift 2 ;;
    --interval) INTERVAL=$2; shift 2 ;;
    --keepalive) KEEPALIVE=$2; shift 2 ;;
    --idle) IDLE=$2; shift 2 ;;
    --settle) SETTLE=$2; shift 2 ;;
    --count) COUNT=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --run) RUN=$2; shift 2 ;;
    --joins) JOINS=$2; shift 2 ;;
    --port) ALLOT_PORT=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
case "$MODE" in legacy | delta) ;; *) bench_die "--mode: legacy or delta, not '$MODE'" ;; esac
[[ "$AGENTS_LIST" =~ ^[0-9]+(,[0-9]+)*$ ]] || bench_die "--agents: numbers separated by commas"
for tool in curl python3 cmake ninja taskset; do
    command -v "$tool" >/dev/null || bench_die "$tool is missing (scripts/install-deps installs it)"
done

BUILD=${BUILD:-build-release}
bench_tmp_init allot-bench-fleet
if [ "${NO_BUILD:-0}" != 1 ]; then
    bench_say "building allotd and bench_fleet into $BUILD"
    { cd "$ROOT" && cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release &&
        cmake --build "$BUILD" --target allotd bench_fleet; } >"$BENCH_TMP/build.log" 2>&1 ||
        bench_die "build failed: $(tail -5 "$BENCH_TMP/build.log")"
fi
ALLOTD="$ROOT/$BUILD/allotd"
FLEET="$ROOT/$BUILD/bench_fleet"
if [ ! -x "$ALLOTD" ] || [ ! -x "$FLEET" ]; then
    bench_die "no allotd/bench_fleet in $ROOT/$BUILD"
fi
bench_pin_pair bench_fleet
ALLOT_URL="http://127.0.0.1:$ALLOT_PORT"

# The platform: tenant `bench` (queue caps out of the way), its workspace `work`, which
# reserves nothing and uses every node, and $1 nodes of 8 H100-80GB. $2: the file.
fleet_platform() {
    {
        printf 'tenants:\n  - name: bench\n    isolation: shared\n    limits: {queued: 10000000}\n'
        printf '    workspaces:\n      - name: work\n        limits: {queued: 1000000}\n'
        printf 'clusters:\n  - name: c1\nnodes:\n'
        awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++) {
            printf "  - name: n%d\n    cluster: c1\n    tenant: bench\n    cpu: 128\n", i
            printf "    memory: 2Ti\n    gpus:\n      - {model: H100-80GB, count: 8}\n" } }'
    } >"$2"
}

# Starts allotd for $1 nodes with a fresh data directory; waits until it is ready (60 s at
# most). Sets ALLOTD_PID.
fleet_allotd_start() {
    local n=$1
    if curl -s -o /dev/null --max-time 1 "$ALLOT_URL/healthz"; then
        bench_die "something already answers on $ALLOT_URL; use --port"
    fi
    rm -rf "$BENCH_TMP/allot-data"
    fleet_platform "$n" "$BENCH_TMP/platform.yaml"
    "${PIN_D[@]}" "$ALLOTD" --listen "127.0.0.1:$ALLOT_PORT" --data "$BENCH_TMP/allot-data" \
        --platform "$BENCH_TMP/platform.yaml" --no-virtual-nodes \
        --max-connections $((n + 1000)) 2>"$BENCH_TMP/allotd-$n.log" &
    ALLOTD_PID=$!
    bench_track "$ALLOTD_PID"
    for _ in $(seq 600); do
        curl -s -o /dev/null --max-time 1 "$ALLOT_URL/readyz" && return 0
        kill -0 "$ALLOTD_PID" 2>/dev/null || bench_die "allotd exited: $(tail -3 "$BENCH_TMP/allotd-$n.log")"
        sleep 0.1
    done
    bench_die "allotd is not ready after 60 s"
}

bench_say "allot $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'); $(nproc) cores; $PIN_NOTE"
RESULTS=()
IFS=, read -r -a COUNTS <<<"$AGENTS_LIST"
for n in "${COUNTS[@]}"; do
    fleet_allotd_start "$n"
    bench_say "$n agents, mode $MODE (wait $([ "$MODE" = legacy ] && echo "$INTERVAL" || echo "$KEEPALIVE") ms)"
    RESULT=$("${PIN_L[@]}" "$FLEET" --port "$ALLOT_PORT" --token-file "$BENCH_TMP/allot-data/admin.token" \
        --agents "$n" --mode "$MODE" --interval "$INTERVAL" --keepalive "$KEEPALIVE" \
        --idle "$IDLE" --settle "$SETTLE" --count "$COUNT" --rate "$RATE" --run "$RUN" \
        --joins "$JOINS" --pid "$ALLOTD_PID" --log "$BENCH_TMP/allotd-$n.log") ||
        bench_die "bench_fleet failed for $n agents"
    RESULTS+=("$RESULT")
    bench_stop_pid "$ALLOTD_PID"
    BENCH_PIDS=()
    [ "${KEEP:-0}" = 1 ] && printf '%s\n' "$RESULT" >>"$BENCH_TMP/results.jsonl"
done

# ---- report ----
echo "== Allot fleet: agents impersonated by bench_fleet ($PIN_NOTE; $(nproc) cores)"
echo "   mode $MODE, interval $INTERVAL ms, keepalive $KEEPALIVE ms, idle window $IDLE s after $SETTLE s settle,"
echo "   $COUNT one-GPU workloads at $RATE/s running $RUN s, $JOINS tokens and joins at once"
python3 - "${RESULTS[@]}" <<'EOF'
import json, sys
rows = [json.loads(a) for a in sys.argv[1:]]
head = ("agents", "mode", "wait ms", "joined", "tokens s", "join s", "allotd CPU %", "RSS MiB", "reports/s",
        "B/report", "dispatch p50 ms", "p99 ms", "finished", "errors", "not ready", "silent log",
        "bench CPU %")
print(" | ".join(head))
def f(v, fmt):
    return "-" if v is None else fmt % v
for r in rows:
    print(" | ".join([
        str(r["agents"]), r["mode"], str(r["wait_ms"]), str(r["joined"]), f(r["tokens_s"], "%.1f"), f(r["join_s"], "%.1f"),
        f(r["allotd_cpu_pct"], "%.1f"), f(r["allotd_rss_mib"], "%.0f"), f(r["reports_per_s"], "%.0f"),
        str(r["report_bytes"]), f(r["dispatch_p50_ms"], "%.1f"), f(r["dispatch_p99_ms"], "%.1f"),
        "%d/%d" % (r["finished"], r["count"]), str(r["errors_total"]), str(r["nodes_not_ready"]),
        str(r["log_no_report_after_join"]), f(r["bench_cpu_pct"], "%.0f")]))
for r in rows:
    bad = {k: v for k, v in r["errors"].items() if v}
    extra = []
    if bad:
        extra.append("errors " + ", ".join(f"{k} {v}" for k, v in bad.items()))
    if r["dropped"]:
        extra.append(f"{r['dropped']} running workloads dropped by the controller")
    if r["inventory_wanted"]:
        extra.append(f"inventory asked {r['inventory_wanted']} times")
    if r["log_no_report_at_join"]:
        extra.append(f"{r['log_no_report_at_join']} 'no report for' lines before every agent had joined")
    if r["dispatched_via_push"]:
        extra.append(f"{r['dispatched_via_push']} placements came in the answer to a push, not a poll")
    if r["dispatched"] < r["count"]:
        extra.append(f"only {r['dispatched']} of {r['count']} placements reached an agent")
    if extra:
        print(f"  {r['agents']} agents: " + "; ".join(extra))
EOF
