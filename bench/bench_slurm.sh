#!/usr/bin/env bash
# Side by side with a peer (not a test): the same trivial workload (`true`, one GPU each)
# through Slurm 22.05 from Debian and through Allot, both on this machine and 127.0.0.1, in
# one run; prints jobs completed per second for each and the ratio. See docs/benchmarks.md,
# "Side by side with Slurm: bench/bench_slurm.sh".
#
#   bench/bench_slurm.sh                  # installs Slurm and munge if missing (root), runs both
#   bench/bench_slurm.sh --count 5000 --interval 100ms
#
# What it does:
#   1. scripts/install-deps --bench-slurm (slurmctld, slurmd, slurm-client, munge);
#   2. Slurm: munged with a fresh key and its own socket; a slurm.conf and gres.conf in a
#      temporary directory: NODES nodes n1..nNODES of 8 GPUs (GRES), all NodeHostname=localhost,
#      NodeAddr=127.0.0.1, each its own port; slurmctld and one slurmd per node
#      (`slurmd -N nI`, which Debian's build supports); the GPUs are device files
#      (symbolic links to /dev/null), since Slurm 22.05 drops a GPU GRES without one;
#   3. submits COUNT jobs `true` with --gres=gpu:1 twice: as one job array (sbatch --array)
#      and as COUNT single `sbatch --wrap true` (8 in parallel); each time measures from the
#      first submission until squeue lists none pending, running or completing, and checks
#      that all COUNT completed;
#   4. stops Slurm, then Allot: allotd and one allot-agent per node (8 declared H100 each,
#      report period INTERVAL) and COUNT one-GPU `true` workloads (bench/bench_load.c),
#      from the first submission to the last exit reported;
#   5. prints both rates and the ratio (Allot over Slurm's better way of submitting).
# Everything started is stopped (daemons, munged, workloads) and the temporary directory
# removed when the script ends, also on failure or ^C. Nothing outside the temporary
# directory is configured or written; the system's munge key and /etc/slurm are not used.
set -euo pipefail

BENCH_NAME=bench_slurm
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

usage() {
    cat <<EOF
usage: bench/bench_slurm.sh [options]
  --count N        jobs/workloads per round (default 2000)
  --nodes N        emulated nodes of 8 GPUs, for both (default 16)
  --interval D     the Allot agents' report period (default 1s, allot-agent's default)
  --slurm-port P   slurmctld's port; the slurmd of node I listens on P+I (default 16817)
  --port P         allotd's port (default 17273)
  --no-array       Slurm: skip the job-array round
  --no-single      Slurm: skip the round of single sbatch submissions
  -h, --help       this help
environment: BUILD [build-release], NO_BUILD=1, PIN=1 (Allot only: allotd on core 0, agents
on the other cores), KEEP=1 (keep the temporary directory and its logs)
EOF
}

COUNT=2000
NODES=16
INTERVAL=1s
SLURM_PORT=16817
ALLOT_PORT=17273
ARRAY=1
SINGLE=1
while [ $# -gt 0 ]; do
    case "$1" in
    --count) COUNT=$2; shift 2 ;;
    --nodes) NODES=$2; shift 2 ;;
    --interval) INTERVAL=$2; shift 2 ;;
    --slurm-port) SLURM_PORT=$2; shift 2 ;;
    --port) ALLOT_PORT=$2; shift 2 ;;
    --no-array) ARRAY=0; shift ;;
    --no-single) SINGLE=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done

# ---- what it needs ----
"$ROOT/scripts/install-deps" --bench-slurm || bench_die "cannot install Slurm and munge"
for tool in munged slurmctld slurmd sbatch squeue sinfo scontrol curl python3 cmake ninja; do
    command -v "$tool" >/dev/null || bench_die "$tool is missing"
done
[ "$(id -u)" = 0 ] || bench_die "slurmd must run as root (it starts jobs as their user)"
allot_build
bench_tmp_init allot-bench-slurm
S="$BENCH_TMP/slurm"
mkdir -p "$S/munge" "$S/state" "$S/log" "$S/run" "$S/dev" "$S/jobs"

now() { date +%s.%N; }

# ---- munge: its own key, socket and files; nothing of the system's ----
chmod 0700 "$S/munge"
head -c 1024 /dev/urandom >"$S/munge/munge.key"
chmod 0400 "$S/munge/munge.key"
# --force: the socket's directory is under /tmp, which munged finds too open otherwise
munged --foreground --force --key-file="$S/munge/munge.key" --socket="$S/munge/munge.socket" \
    --pid-file="$S/munge/munged.pid" --log-file="$S/munge/munged.log" \
    --seed-file="$S/munge/munged.seed" --num-threads=4 2>>"$S/munge/munged.stderr" &
bench_track $!
for _ in $(seq 50); do
    [ -S "$S/munge/munge.socket" ] && break
    sleep 0.1
done
[ -S "$S/munge/munge.socket" ] || bench_die "munged did not start: $(tail -2 "$S/munge/munged.log")"

# ---- slurm.conf and gres.conf ----
# 22.05 drops a GPU GRES that has no File ("Removing file-less GPU gpu:(null) from final
# GRES list"): the node then reports 0 GPUs, and slurmctld marks it INVAL ("gres/gpu count
# reported lower than configured (0 < 8)"). A regular file is refused too ("not a valid
# character or block device"). Symbolic links to /dev/null are accepted, and nothing is
# done with them since no task plugin constrains devices.
for g in 0 1 2 3 4 5 6 7; do
    ln -s /dev/null "$S/dev/nvidia$g"
done
LAST_PORT=$((SLURM_PORT + NODES))
cat >"$S/slurm.conf" <<EOF
# bench/bench_slurm.sh: $NODES emulated nodes of 8 GPUs on 127.0.0.1, one slurmd each
ClusterName=bench
SlurmctldHost=localhost
SlurmctldPort=$SLURM_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$S/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool/%n
SlurmctldPidFile=$S/run/slurmctld.pid
SlurmdPidFile=$S/run/slurmd-%n.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd-%n.log
# what was tuned for throughput: logging only errors; no accounting, job completion log,
# job accounting gatherer, MPI or cgroups (process tracking by /proc, no task plugin)
SlurmctldDebug=error
SlurmdDebug=error
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
# the scheduler as shipped: backfill, GPUs as GRES, cores as the consumable
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
GresTypes=gpu
ReturnToService=2
# the nodes declare 128 CPUs, as Allot's do; the host has $(nproc)
SlurmdParameters=config_overrides
# finished jobs stay listed for 10 minutes, so that the count of completed jobs can be checked
MinJobAge=600
MaxJobCount=$((COUNT * 2 + 10000))
MaxArraySize=$((COUNT + 1))
NodeName=n[1-$NODES] NodeHostname=localhost NodeAddr=127.0.0.1 Port=[$((SLURM_PORT + 1))-$LAST_PORT] CPUs=128 RealMemory=1024 Gres=gpu:8 State=UNKNOWN
PartitionName=bench Nodes=n[1-$NODES] Default=YES MaxTime=INFINITE State=UP
EOF
echo "NodeName=n[1-$NODES] Name=gpu File=$S/dev/nvidia[0-7]" >"$S/gres.conf"
export SLURM_CONF="$S/slurm.conf"

# ---- slurmctld and one slurmd per node, in the foreground: children of this script ----
for p in $(seq "$SLURM_PORT" "$LAST_PORT"); do
    if (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        bench_die "port $p is taken; choose another --slurm-port"
    fi
done
slurmctld -D -i -f "$SLURM_CONF" 2>>"$S/log/slurmctld.stderr" &
bench_track $!
for _ in $(seq 100); do
    scontrol ping 2>/dev/null | grep -q UP && break
    sleep 0.1
done
scontrol ping | grep -q UP || bench_die "slurmctld did not start: $(tail -3 "$S/log/slurmctld.log")"
for i in $(seq 1 "$NODES"); do
    mkdir -p "$S/spool/n$i"
    slurmd -D -N "n$i" -f "$SLURM_CONF" 2>>"$S/log/slurmd-n$i.stderr" &
    bench_track $!
done
for _ in $(seq 300); do # at most 30 s: every node idle with its 8 GPUs
    [ "$(sinfo -h -N -t idle -o '%N %G' | grep -c 'gpu:8')" -ge "$NODES" ] && break
    sleep 0.1
done
if [ "$(sinfo -h -N -t idle -o '%N %G' | grep -c 'gpu:8')" -lt "$NODES" ]; then
    sinfo -N -o '%N %T %G %E' >&2
    bench_die "not every node is idle with 8 GPUs"
fi
bench_say "slurm $(sinfo -V | cut -d' ' -f2): slurmctld and $NODES slurmd on 127.0.0.1 ($(sinfo -h -o '%D nodes %G %T'))"

# Waits until no job is pending, running or completing; prints the seconds since $1.
slurm_drain() {
    local t0=$1 deadline
    deadline=$(($(date +%s) + 600))
    while [ -n "$(squeue -h -t PD,R,CG,CF,S -o %i | head -1)" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || bench_die "Slurm jobs still active after 600 s"
        sleep 0.05
    done
    awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'
}
# Checks that $1 jobs since job id $2 completed (state COMPLETED, exit 0).
slurm_check() {
    local want=$1 first=$2 done_
    done_=$(squeue -h -r -t CD -o '%A %i %T %j' | awk -v f="$first" '$1 >= f' | wc -l)
    [ "$done_" -eq "$want" ] ||
        bench_die "Slurm: $done_ of $want jobs completed: $(squeue -h -r -t all -o %T | sort | uniq -c | tr '\n' ' ')"
}
ROUND_ARRAY=""
ROUND_SINGLE=""
cd "$S/jobs" # the jobs' output files (slurm-%j.out, as Allot's stdout.log) go here
if [ "$ARRAY" = 1 ]; then
    t0=$(now)
    first=$(sbatch --parsable --array="1-$COUNT" --gres=gpu:1 -n1 --wrap true)
    t_sub=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
    s=$(slurm_drain "$t0")
    slurm_check "$COUNT" "$first"
    ROUND_ARRAY="$s $t_sub"
    bench_say "slurm, job array: $COUNT jobs completed in $s s (submitted in $t_sub s)"
fi
if [ "$SINGLE" = 1 ]; then
    t0=$(now)
    first=$(sbatch --parsable --gres=gpu:1 -n1 --wrap true)
    seq 2 "$COUNT" | xargs -P 8 -I{} sbatch --parsable --gres=gpu:1 -n1 --wrap true >/dev/null
    t_sub=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
    s=$(slurm_drain "$t0")
    slurm_check "$COUNT" "$first"
    ROUND_SINGLE="$s $t_sub"
    bench_say "slurm, single sbatch: $COUNT jobs completed in $s s (submitted in $t_sub s)"
fi
cd "$ROOT"
# Slurm is stopped before Allot runs: the two never share the machine
for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
    bench_stop_pid "${BENCH_PIDS[i]}"
done
BENCH_PIDS=()

# ---- Allot ----
allot_pinning
allot_start "$NODES"
allot_agents_start "$NODES" "$INTERVAL"
bench_say "allot $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'): allotd and $NODES agents, report period $INTERVAL ($PIN_NOTE)"
TP=$(allot_throughput --count "$COUNT" --conns 16)

# ---- report ----
echo "== $COUNT jobs \`true\`, one GPU each, $NODES nodes x 8 GPUs on 127.0.0.1; $(nproc) cores"
python3 - "$TP" "$COUNT" "$ROUND_ARRAY" "$ROUND_SINGLE" "$INTERVAL" <<'EOF'
import json, sys
tp = json.loads(sys.argv[1])
n = int(sys.argv[2])
rows = []
for label, arg in (("Slurm 22.05, one job array (sbatch --array)", sys.argv[3]),
                   ("Slurm 22.05, single sbatch --wrap (8 in parallel)", sys.argv[4])):
    if arg:
        total, sub = (float(x) for x in arg.split())
        rows.append((label, sub, total, n / total))
rows.append((f"Allot, agents reporting every {sys.argv[5]} (HTTP, 16 connections)",
             tp["submit_s"], tp["total_s"], tp["rate"]))
print(f"{'':58} {'submitted s':>11} {'done s':>8} {'jobs/s':>8}")
for label, sub, total, rate in rows:
    print(f"{label:58} {sub:11.2f} {total:8.2f} {rate:8.1f}")
slurm = [r[3] for r in rows[:-1]]
if slurm:
    best = max(slurm)
    print(f"ratio Allot / Slurm (Slurm's faster way): {tp['rate'] / best:.1f}x (target >= 10x)")
EOF
