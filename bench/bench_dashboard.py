#!/usr/bin/env python3
"""Benchmark of the dashboard (docs/benchmarks.md, "Dashboard"); not a test. Starts allotd on
a free loopback port with virtual nodes: 1,000 nodes of 8 GPUs (8,000 GPUs) in 4 tenants of 3
workspaces, filled by 1,500 workloads of 4 GPUs over HTTP; then bench_dashboard.mjs drives
Debian's chromium headless: the cluster page loaded RUNS times (from navigation to the
page's performance marks cluster-rendered and cluster-painted), and a burst of 1,000
submissions over HTTP followed on the open cluster page (until it has every event and shows
the API's count of GPUs in use). Prints the figures. Usage: bench_dashboard.py [ALLOTD]
(default build/allotd); needs scripts/install-deps (chromium, tests/browser/node_modules).
TRACE=1 also prints the page's resource timings of its last load (what it waited for)."""
import concurrent.futures
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
import allotd_harness  # noqa: E402

ALLOTD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(SRC, "build", "allotd")
TENANTS, NODES, GPUS, FILL, BURST = 4, 1000, 8, 1500, 1000


def platform(path):
    lines = ["tenants:"]
    for t in range(TENANTS):
        lines += [f"  - name: t{t}", "    workspaces:",
                  f"      - {{name: train, reserved: {{gpu: 600}}, limits: {{gpu: 2000}}}}",
                  f"      - {{name: infer, reserved: {{gpu: 400}}, limits: {{gpu: 2000}}}}",
                  f"      - {{name: lab, limits: {{gpu: 2000}}}}"]
    lines += ["clusters:", "  - name: c0", "  - name: c1", "nodes:"]
    for n in range(NODES):
        lines += [f"  - {{name: n{n:04d}, cluster: c{n % 2}, tenant: t{n % TENANTS}, cpu: 128, "
                  f"memory: 1Ti, labels: {{rack: r{n // 40}}}, "
                  f"gpus: [{{model: H100-80GB, count: {GPUS}}}]}}"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def submit_all(port, token, bodies, threads=8):
    """POST every body to /v1/workloads from `threads` connections. RET seconds taken."""
    def worker(chunk):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for b in chunk:
            conn.request("POST", "/v1/workloads", json.dumps(b),
                         {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            if r.status >= 300:
                raise RuntimeError(f"submit {b}: {r.status}")
        conn.close()
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, [bodies[i::threads] for i in range(threads)]))
    return time.time() - t0


def main():
    if not shutil.which("chromium"):
        sys.exit("bench_dashboard: chromium is missing (scripts/install-deps)")
    tmp = tempfile.mkdtemp(prefix="allot-bench-dashboard-")
    plat = os.path.join(tmp, "platform.yaml")
    platform(plat)
    d = allotd_harness.Daemon(ALLOTD, os.path.join(tmp, "data"), plat,
                              extra=["--ui-dir", os.path.join(SRC, "ui")])
    try:
        ws = ["train", "infer", "lab"]
        fill = [{"workspace": f"t{i % TENANTS}/{ws[(i // TENANTS) % 3]}", "name": f"f{i}",
                 "gpus": 4} for i in range(FILL)]
        secs = submit_all(d.port, d.admin, fill)
        print(f"setup: {NODES} nodes, {NODES * GPUS} GPUs, {FILL} workloads of 4 GPUs "
              f"submitted in {secs:.1f} s")
        env = dict(os.environ, ALLOT_URL=d.url, ADMIN_TOKEN=d.admin,
                   CHROMIUM=shutil.which("chromium"), BURST=str(BURST),
                   TENANTS=str(TENANTS))
        proc = subprocess.Popen(["node", os.path.join(SRC, "bench", "bench_dashboard.mjs")],
                                env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        # the script says "burst" when the page is ready for it, then waits for "sent"
        for line in proc.stdout:
            print(line, end="")
            if line.strip() == "burst":
                bodies = [{"workspace": f"t{i % TENANTS}/lab", "name": f"b{i}", "gpus": 1}
                          for i in range(BURST)]
                secs = submit_all(d.port, d.admin, bodies)
                print(f"burst: {BURST} submissions over HTTP in {secs:.2f} s")
                proc.stdin.write("sent\n")
                proc.stdin.flush()
        return proc.wait()
    finally:
        d.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
