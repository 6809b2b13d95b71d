# Shared by bench/bench_agents.sh, bench/bench_slurm.sh, bench/bench_events.sh and (for
# bench_pin_pair and wrk_figures) bench/bench_api.sh and bench/bench_fair.sh (sourced, not
# run): builds Allot, starts allotd with a platform of NODES nodes x 8 declared H100 GPUs and one allot-agent per
# node on 127.0.0.1, and stops everything it started when the calling script ends.
# The caller sets `set -euo pipefail`, BENCH_NAME and ROOT before sourcing, then calls
# bench_tmp_init once.
# shellcheck shell=bash

bench_say() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; }
bench_die() {
    bench_say "$*"
    exit 1
}

# ---- the temporary directory and the clean-up of everything started here ----
BENCH_TMP=""
PIN_NOTE="" # how allotd and the agents are pinned (allot_pinning), for the report
BENCH_PIDS=()       # daemons started here, stopped in reverse order (TERM, then KILL)
BENCH_CLEANUPS=()   # extra clean-up commands of the caller, run first
bench_tmp_init() { # $1: prefix of the temporary directory
    BENCH_TMP=$(mktemp -d "/tmp/$1.XXXXXX")
    chmod 0755 "$BENCH_TMP"
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}
bench_track() { BENCH_PIDS+=("$1"); } # $1: pid of a daemon started in the background
bench_stop_pid() { # $1: pid: TERM, up to 5 s, then KILL; reaped
    local pid=$1
    kill -0 "$pid" 2>/dev/null || {
        wait "$pid" 2>/dev/null || true
        return 0
    }
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
# Kills every process whose working directory is under $1: Allot's workloads outlive their
# agent on purpose (a restarted agent adopts them), so the benchmark stops its own.
bench_kill_under() {
    local p
    for p in /proc/[0-9]*; do
        case "$(readlink "$p/cwd" 2>/dev/null)" in
        "$1"/*) kill -9 "${p#/proc/}" 2>/dev/null || true ;;
        esac
    done
}
bench_cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    set +e
    for ((i = ${#BENCH_CLEANUPS[@]} - 1; i >= 0; i--)); do
        eval "${BENCH_CLEANUPS[i]}" 2>/dev/null
    done
    for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
        bench_stop_pid "${BENCH_PIDS[i]}"
    done
    if [ -n "$BENCH_TMP" ]; then
        bench_kill_under "$BENCH_TMP"
        if [ "${KEEP:-0}" = 1 ]; then
            bench_say "kept $BENCH_TMP"
        else
            rm -rf "$BENCH_TMP"
        fi
    fi
    exit "$rc"
}

# ---- Allot ----
# Builds the release allotd into $BUILD (default build-release) unless NO_BUILD=1; sets
# ALLOTD. RET 1 when there is no daemon there (bench/bench_api.sh, bench/bench_fair.sh).
bench_build_allotd() {
    BUILD=${BUILD:-build-release}
    if [ "${NO_BUILD:-0}" != 1 ]; then
        (cd "$ROOT" && cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null &&
            cmake --build "$BUILD" --target allotd >/dev/null) || return 1
    fi
    ALLOTD="$ROOT/$BUILD/allotd"
    [ -x "$ALLOTD" ]
}

# Builds allotd, allot-agent and the load generator bench_load into $BUILD (release) unless
# NO_BUILD=1.
allot_build() {
    BUILD=${BUILD:-build-release}
    if [ "${NO_BUILD:-0}" != 1 ]; then
        (cd "$ROOT" && cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null &&
            cmake --build "$BUILD" --target allotd allot-agent bench_load >/dev/null) ||
            bench_die "build failed"
    fi
    ALLOTD="$ROOT/$BUILD/allotd"
    ALLOT_AGENT="$ROOT/$BUILD/allot-agent"
    BENCH_LOAD="$ROOT/$BUILD/bench_load"
    if [ ! -x "$ALLOTD" ] || [ ! -x "$ALLOT_AGENT" ] || [ ! -x "$BENCH_LOAD" ]; then
        bench_die "no allotd/allot-agent/bench_load in $ROOT/$BUILD"
    fi
}

# Writes the platform: tenant `bench` with workspaces `prod` (reserves PROD_RESERVED GPUs,
# lends them while idle) and `research` (reserves nothing, borrows), their queue caps raised,
# and $1 nodes of 8 H100-80GB. $2: the file.
allot_platform() {
    local nodes=$1 file=$2 i
    {
        # queue caps (docs/policy.md, "Queue caps") out of the way: bench_restart holds 100,000
        printf 'tenants:\n  - name: bench\n    isolation: shared\n    max_grace: 5m\n'
        printf '    limits: {queued: 10000000}\n    workspaces:\n'
        printf '      - name: prod\n        reserved: {gpu: %s}\n' "${PROD_RESERVED:-8}"
        printf '        limits: {queued: 1000000}\n'
        printf '      - name: research\n        limits: {queued: 1000000}\n'
        printf 'clusters:\n  - name: c1\nnodes:\n'
        for i in $(seq 1 "$nodes"); do
            printf '  - name: n%s\n    cluster: c1\n    tenant: bench\n    cpu: 128\n' "$i"
            printf '    memory: 2Ti\n    gpus:\n      - {model: H100-80GB, count: 8}\n'
        done
    } >"$file"
}

# Starts allotd (--no-virtual-nodes) on 127.0.0.1:$ALLOT_PORT with a fresh data directory
# under BENCH_TMP and the platform of $1 nodes; waits until it is ready. Sets ALLOT_URL,
# ALLOT_TOKEN, ALLOTD_PID.
allot_start() {
    local nodes=$1
    ALLOT_URL="http://127.0.0.1:$ALLOT_PORT"
    if curl -s -o /dev/null --max-time 1 "$ALLOT_URL/healthz"; then
        bench_die "something already answers on $ALLOT_URL; set ALLOT_PORT"
    fi
    allot_platform "$nodes" "$BENCH_TMP/platform.yaml"
    "${PIN_ALLOTD[@]}" "$ALLOTD" --listen "127.0.0.1:$ALLOT_PORT" --data "$BENCH_TMP/allot-data" \
        --platform "$BENCH_TMP/platform.yaml" --no-virtual-nodes 2>"$BENCH_TMP/allotd.log" &
    ALLOTD_PID=$!
    bench_track "$ALLOTD_PID"
    for _ in $(seq 100); do # at most 10 s
        curl -s -o /dev/null --max-time 1 "$ALLOT_URL/readyz" && break
        kill -0 "$ALLOTD_PID" 2>/dev/null || bench_die "allotd exited: $(tail -3 "$BENCH_TMP/allotd.log")"
        sleep 0.1
    done
    curl -sf -o /dev/null --max-time 1 "$ALLOT_URL/readyz" || bench_die "allotd is not ready after 10 s"
    ALLOT_TOKEN=$(cat "$BENCH_TMP/allot-data/admin.token")
}

# Joins $1 agents (nodes n1..n$1), each with `--gpus 8xH100-80GB`, a one-time join token,
# its own work directory under BENCH_TMP and report period $2; waits until every node has
# reported (its GPUs are known to the controller).
allot_agents_start() {
    local nodes=$1 interval=$2 i join pid
    for i in $(seq 1 "$nodes"); do
        join=$(curl -sf --max-time 5 -H "Authorization: Bearer $ALLOT_TOKEN" \
            -H 'Content-Type: application/json' -d "{\"node\": \"n$i\", \"join\": true}" \
            "$ALLOT_URL/v1/tokens" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])') ||
            bench_die "cannot make a join token for n$i"
        mkdir -p "$BENCH_TMP/a/n$i"
        # agents on one host get disjoint uid ranges (docs/agent.md, "Users")
        "${PIN_AGENTS[@]}" "$ALLOT_AGENT" --server "$ALLOT_URL" --node "n$i" --join-token "$join" \
            --gpus 8xH100-80GB --work-dir "$BENCH_TMP/a/n$i" --interval "$interval" \
            --uid-range "$((1000000000 + i * 65536)):65536" 2>"$BENCH_TMP/a/n$i.log" &
        pid=$!
        bench_track "$pid"
    done
    for _ in $(seq 100); do # at most 10 s: every agent has traded its join token
        [ "$(find "$BENCH_TMP/a" -name node.token | wc -l)" -ge "$nodes" ] && break
        sleep 0.1
    done
    [ "$(find "$BENCH_TMP/a" -name node.token | wc -l)" -ge "$nodes" ] ||
        bench_die "not every agent joined: $(tail -2 "$BENCH_TMP"/a/n1.log)"
    sleep 1 # one more report each: the inventories are in
}

# Pinning (PIN=1): allotd on core 0, the agents and their workloads on the other cores.
# Default: nothing pinned, as Slurm's daemons are not.
allot_pinning() {
    PIN_ALLOTD=()
    PIN_AGENTS=()
    # shellcheck disable=SC2034 # read by the callers
    PIN_NOTE="nothing pinned"
    if [ "${PIN:-0}" = 1 ] && [ "$(nproc)" -ge 2 ]; then
        PIN_ALLOTD=(taskset -c 0)
        PIN_AGENTS=(taskset -c "1-$(($(nproc) - 1))")
        # shellcheck disable=SC2034
        PIN_NOTE="allotd on core 0, agents and workloads on cores 1-$(($(nproc) - 1))"
    fi
}

# Pins a daemon to core 0 and its load ($1 names it) to core 1 when there are 2 cores or
# more: the API benchmarks measure the daemon on one core. Sets PIN_D and PIN_L (command
# prefixes) and PIN_NOTE.
bench_pin_pair() {
    # shellcheck disable=SC2034 # read by the callers
    if [ "$(nproc)" -ge 2 ]; then
        PIN_D=(taskset -c 0)
        PIN_L=(taskset -c 1)
        PIN_NOTE="allotd on core 0, $1 on core 1"
    else
        PIN_D=()
        PIN_L=()
        PIN_NOTE="one core: allotd and $1 not pinned"
    fi
}

# wrk's figures: requests/s, and latency percentiles from --latency, in ms. $1: wrk's output
# -> "rps p50_ms p99_ms non2xx errors".
wrk_figures() {
    awk '
        function ms(v) {
            if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
            if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
            if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
            return v
        }
        /Requests\/sec:/ { rps = $2 }
        /^ +50%/ { p50 = ms($2) }
        /^ +99%/ { p99 = ms($2) }
        /Non-2xx or 3xx responses:/ { non2xx = $5 }
        /Socket errors:/ { err = $4 + $6 + $8 + $10 }
        END { printf "%.0f %.2f %.2f %d %d\n", rps, p50, p99, non2xx, err }
    ' "$1"
}

# The throughput of one-GPU `true` workloads through the daemon: bench_load (compiled, a
# thread per connection; the Python client was slower than what it measured). "$@": its
# options (--count N --conns C). Prints its JSON line.
allot_throughput() {
    "$BENCH_LOAD" --port "$ALLOT_PORT" --token "$ALLOT_TOKEN" "$@"
}

# Runs bench/allot_load.py (the HTTP client of the Allot side: the reclaim rounds) with the
# daemon's address and token; "$@": its subcommand and options.
allot_load() {
    ALLOT_URL=$ALLOT_URL ALLOT_TOKEN=$ALLOT_TOKEN python3 "$ROOT/bench/allot_load.py" "$@"
}
