#!/usr/bin/env python3
"""GPU-hour ledger benchmark (not a test): how long GET /v1/usage takes over a ledger of
realistic size, and what the ledger adds to a start. A real allotd (SQLite, simulated nodes)
on 127.0.0.1 with WORKSPACES workspaces; its ledger is filled directly in its database with
DAYS days of hourly rollups (every hour, every workspace, USERS users each, guaranteed and
borrowed rows), their day rollups, and one attempt row per workspace and hour; then the daemon is started again
and each query is timed (median and max of REPEAT). See docs/benchmarks.md, "GPU-hour ledger".

    python3 bench/bench_usage.py [--days 30] [--workspaces 100] [--users 5] [BUILD_DIR]
"""
import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import allotd_harness  # noqa: E402

HOUR = 3600 * 1000


def platform(workspaces):
    ws = "\n".join(f"      - {{name: w{i}}}" for i in range(workspaces))
    return f"""
tenants:
  - name: acme
    workspaces:
{ws}
clusters:
  - name: c1
nodes:
  - {{name: n1, cluster: c1, tenant: acme, cpu: 64, memory: 512Gi,
     gpus: [{{model: H100-80GB, count: 8}}]}}
"""


def fill(db, days, workspaces, users, now_ms):
    """The rows a ledger of that size holds. RET (hour rows, attempt rows)."""
    con = sqlite3.connect(db)
    first = now_ms - now_ms % HOUR - days * 24 * HOUR
    hours, attempts = [], []
    for h in range(days * 24):
        at = first + h * HOUR
        for w in range(workspaces):
            for u in range(users):
                for cls in ("guaranteed", "borrowed"):
                    hours.append((at, "acme", f"acme/w{w}", f"u{u}", "H100-80GB", "", cls,
                                  840 * 1800 * 1000))
            attempts.append((f"acme/w{w}/job-{h}", 1, "acme", f"acme/w{w}", f"u{h % users}",
                             at, at + HOUR, 840 * 4, 840, "finished", 0))
    con.executemany("INSERT INTO usage_hours VALUES (?, ?, ?, ?, ?, ?, ?, ?)", hours)
    days = {}
    for r in hours:  # the day rollups, as the daemon writes them beside the hours
        k = (r[0] - r[0] % (24 * HOUR),) + r[1:7]
        days[k] = days.get(k, 0) + r[7]
    con.executemany("INSERT INTO usage_days VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [k + (v,) for k, v in days.items()])
    totals = {}
    for r in hours:
        k = (r[1], r[2], r[6])
        totals[k] = totals.get(k, 0) + r[7]
    con.executemany("INSERT INTO usage_totals VALUES (?, ?, ?, ?)",
                    [k + (v,) for k, v in totals.items()])
    con.executemany("INSERT INTO usage_attempts (workload, attempt, tenant, workspace,"
                    " submitter, start_ms, end_ms, gpu_units, borrowed_units, ending, lost)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", attempts)
    con.commit()
    con.close()
    return len(hours), len(attempts)


def timed(d, path, repeat):
    """Median and max milliseconds of repeat GETs of path (each answered 200)."""
    ms = []
    for _ in range(repeat):
        t = time.perf_counter()
        st, r = d.request("GET", path, token=d.admin)
        ms.append((time.perf_counter() - t) * 1000)
        if st != 200:
            raise SystemExit(f"GET {path}: {st} {r}")
    return statistics.median(ms), max(ms), r


def start(allotd, data, plat):
    t = time.perf_counter()
    d = allotd_harness.Daemon(allotd, data, plat)
    return d, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--workspaces", type=int, default=100)
    ap.add_argument("--users", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("build", nargs="?", default=os.path.join(ROOT, "build-release"))
    a = ap.parse_args()
    allotd = os.path.join(a.build, "allotd")
    tmp = tempfile.mkdtemp(prefix="allot-bench-usage-")
    d = None
    try:
        data = os.path.join(tmp, "data")
        plat = os.path.join(tmp, "platform.yaml")
        with open(plat, "w") as f:
            f.write(platform(a.workspaces))
        d, empty_s = start(allotd, data, plat)
        d.stop()
        n_hours, n_attempts = fill(os.path.join(data, "allot.db"), a.days, a.workspaces,
                                   a.users, int(time.time() * 1000))
        d, full_s = start(allotd, data, plat)
        print(f"ledger: {n_hours} hourly rows, {n_attempts} attempt rows "
              f"({a.days} days x {a.workspaces} workspaces x {a.users} users)")
        print(f"start to /healthz: {empty_s:.3f} s empty, {full_s:.3f} s with the ledger "
              "(the metrics' totals: one row per workspace and class)")
        now = int(time.time())
        since = now - a.days * 86400
        print("query                                  median ms    max ms   items")
        for by in ("workspace", "user", "day", "tenant"):
            path = f"/v1/usage?by={by}&from={since}&to={now}"
            med, worst, r = timed(d, path, a.repeat)
            print(f"{('by=' + by + ', ' + str(a.days) + ' days'):38s} {med:9.1f} {worst:9.1f} "
                  f"{len(r['items']):7d}")
        # by workload: the attempts themselves, so one workspace's (all would be over the cap)
        med, worst, r = timed(d, f"/v1/usage?by=workload&workspace=acme/w0&from={since}&to={now}",
                              a.repeat)
        print(f"{'by=workload, one workspace, ' + str(a.days) + ' days':38s} {med:9.1f} "
              f"{worst:9.1f} {len(r['items']):7d}")
        med, worst, r = timed(d, f"/v1/usage?by=day&from={now - 86400}&to={now}", a.repeat)
        print(f"{'by=day, the last day':38s} {med:9.1f} {worst:9.1f} {len(r['items']):7d}")
        med, worst, r = timed(d, "/metrics", a.repeat)
        print(f"{'/metrics (allot_gpu_seconds_total)':38s} {med:9.1f} {worst:9.1f}")
    finally:
        if d and d.proc.poll() is None:
            d.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
