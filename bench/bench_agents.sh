#!/usr/bin/env bash
# Agents benchmark (not a test): one allotd and 16 allot-agent processes of 8 declared H100
# GPUs each, all on this machine and 127.0.0.1. See docs/benchmarks.md, "Agents:
# bench/bench_agents.sh".
#
#   bench/bench_agents.sh                 # build build-release, run both parts
#   bench/bench_agents.sh --count 5000    # more workloads in the throughput part
#
# What it does:
#   1. builds allotd and allot-agent (release, into build-release) unless NO_BUILD=1;
#   2. starts allotd --no-virtual-nodes on 127.0.0.1:PORT with a temporary data directory
#      and a platform of one tenant `bench` (workspaces `prod`, reserving 8 GPUs, and
#      `research`, reserving nothing) and AGENTS nodes of 8 H100-80GB; joins one allot-agent
#      per node (one-time join token, --gpus 8xH100-80GB, its own work directory);
#   3. throughput: submits COUNT one-GPU workloads running `true` to bench/research (HTTP,
#      CONNS keep-alive connections, bench/bench_load.c) and prints workloads completed per
#      second from the first submission to the last exit reported by an agent;
#   4. reclaim: research borrows every GPU with `sleep 600` workloads that ignore SIGTERM
#      (grace GRACE), then prod submits a one-GPU workload ROUNDS times; prints the time from
#      that submission to its process running (the process writes a timestamp first
#      thing), p50 and max, and the same minus the grace period.
# Everything started is stopped and the temporary directory removed when the script ends
# (also on failure or ^C).
set -euo pipefail

BENCH_NAME=bench_agents
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

usage() {
    cat <<EOF
usage: bench/bench_agents.sh [options]
  --count N       one-GPU \`true\` workloads in the throughput part (default 2000)
  --agents N      agents (nodes of 8 GPUs) (default 16)
  --interval D    the agents' report period (default 1s, allot-agent's default)
  --conns N       HTTP connections submitting (default 16)
  --rounds N      reclaim measurements (default 5)
  --grace D       research's grace period in the reclaim part (default 5s)
  --cooperative   research's workloads exit at SIGTERM instead of using the whole grace
  --no-reclaim    only the throughput part
  --port P        allotd's port on 127.0.0.1 (default 17272)
  -h, --help      this help
environment: BUILD [build-release], NO_BUILD=1, PIN=1 (allotd on core 0, agents on the
other cores), KEEP=1 (keep the temporary directory)
EOF
}

COUNT=2000
AGENTS=16
INTERVAL=1s
CONNS=16
ROUNDS=5
GRACE=5s
COOPERATIVE=()
RECLAIM=1
ALLOT_PORT=17272
while [ $# -gt 0 ]; do
    case "$1" in
    --count) COUNT=$2; shift 2 ;;
    --agents) AGENTS=$2; shift 2 ;;
    --interval) INTERVAL=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --grace) GRACE=$2; shift 2 ;;
    --cooperative) COOPERATIVE=(--cooperative); shift ;;
    --no-reclaim) RECLAIM=0; shift ;;
    --port) ALLOT_PORT=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
for tool in curl python3 cmake ninja; do
    command -v "$tool" >/dev/null || bench_die "$tool is missing (scripts/install-deps installs it)"
done

allot_build
allot_pinning
bench_tmp_init allot-bench-agents

# ---- throughput: its own daemon and agents ----
allot_start "$AGENTS"
allot_agents_start "$AGENTS" "$INTERVAL"
bench_say "allot $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'); $(nproc) cores; $PIN_NOTE"
bench_say "$AGENTS agents x 8 declared H100, report period $INTERVAL; $COUNT workloads over $CONNS connections"
TP=$(allot_throughput --count "$COUNT" --conns "$CONNS")

# ---- reclaim: a fresh daemon and agents, so the throughput run leaves nothing behind ----
if [ "$RECLAIM" = 1 ]; then
    bench_stop_agents_and_daemon() {
        local i
        for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
            bench_stop_pid "${BENCH_PIDS[i]}"
        done
        BENCH_PIDS=()
        bench_kill_under "$BENCH_TMP"
        rm -rf "$BENCH_TMP/allot-data" "$BENCH_TMP/a" "$BENCH_TMP/cgroup"
    }
    bench_stop_agents_and_daemon
    allot_start "$AGENTS"
    allot_agents_start "$AGENTS" "$INTERVAL"
    bench_say "reclaim: research borrows all $((AGENTS * 8)) GPUs (grace $GRACE), prod submits $ROUNDS times"
    RC=$(allot_load reclaim --rounds "$ROUNDS" --grace "$GRACE" --gpus $((AGENTS * 8)) \
        --marks "$BENCH_TMP/marks" "${COOPERATIVE[@]}")
fi

# ---- report ----
echo "== Allot: $AGENTS agents x 8 declared GPUs, report period $INTERVAL ($PIN_NOTE; $(nproc) cores)"
python3 - "$TP" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
print(f"throughput: {r['count']} one-GPU `true` workloads, submitted in {r['submit_s']:.2f} s "
      f"({r['submit_rate']:.0f}/s), all finished (exit code 0) after {r['total_s']:.2f} s")
print(f"workloads completed per second (submit to reported exit): {r['rate']:.1f}")
EOF
if [ "$RECLAIM" = 1 ]; then
    python3 - "$RC" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
kind = "ignore SIGTERM (killed at the deadline)" if r["victims_ignore_sigterm"] else "exit at SIGTERM"
print(f"reclaim: grace {r['grace_s']:g} s, research's workloads {kind}")
for x in r["rounds"]:
    print(f"  round {x['round']}: submit -> placed by the controller {x['admitted_s']:.3f} s, "
          f"-> process running {x['latency_s']:.3f} s (agent's part {x['agent_s']:.3f} s)")
print(f"reclaim latency: p50 {r['p50_s']:.3f} s, max {r['max_s']:.3f} s; minus the grace: "
      f"p50 {r['p50_over_grace_s']:.3f} s, max {r['max_over_grace_s']:.3f} s (target < 1 s)")
EOF
fi
