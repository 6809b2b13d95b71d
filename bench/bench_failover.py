#!/usr/bin/env python3
"""Failover benchmark (not a test): a leader and a standby allotd over one private PostgreSQL
server (started and stopped here), two real agents, and 8 clients that submit and follow the
leader; the leader is killed (kill -9) ROUNDS times (the killed one comes back each time as
the standby). Prints, per round and as a distribution, the seconds from the kill until the
standby says it leads (/readyz), until it acknowledges a submission, and until it places one,
and checks every round that each acknowledged submission is there and no GPU is held twice.
See docs/benchmarks.md, "Failover: bench/bench_failover.py".

    python3 bench/bench_failover.py [--rounds 10] [--clients 8] [BUILD_DIR]
"""
import argparse
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ["ALLOT_TEST_STORE"] = "postgresql"
import allotd_harness  # noqa: E402,F401  (exits 77 without PostgreSQL)
import failover  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("build", nargs="?", default=os.path.join(ROOT, "build"))
    a = ap.parse_args()
    pair = failover.Pair(os.path.join(a.build, "allotd"), os.path.join(a.build, "allot-agent"),
                         ROOT)
    rows = []
    try:
        pair.steady(["steady-1", "steady-2"])
        pids = pair.started_pids()
        print("round  leader_s  acked_s  placed_s  acknowledged")
        for i in range(a.rounds):
            f = pair.failover(clients=a.clients, tag=f"r{i}")
            missing = [n for n in f["acked"]
                       if pair.workload(f"acme/research/{n}")["name"] != f"acme/research/{n}"]
            twice = pair.held_twice()
            if missing or twice:
                raise SystemExit(f"round {i}: missing {missing[:5]}, held twice {twice[:5]}")
            if pair.started_pids() != pids:
                raise SystemExit(f"round {i}: the steady processes changed: {pids} -> "
                                 f"{pair.started_pids()}")
            rows.append(f)
            print(f"{i:5d}  {f['leader_s']:8.3f}  {f['acked_s']:7.3f}  {f['placed_s']:8.3f}"
                  f"  {len(f['acked'])}")
    finally:
        pair.close()
    for key in ("leader_s", "acked_s", "placed_s"):
        v = sorted(r[key] for r in rows)
        print(f"{key:9s} min {v[0]:.3f}  median {statistics.median(v):.3f}  max {v[-1]:.3f}")
    print("every round: each acknowledged submission present, no GPU held twice, the two "
          "steady processes never restarted")


if __name__ == "__main__":
    main()
