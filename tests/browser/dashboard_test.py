#!/usr/bin/env python3
"""The dashboard's browser test (docs/dashboard.md): starts a real allotd on a free loopback
port with virtual nodes, tests/browser/platform.yaml (tenants acme and beta) and --ui-dir
SRC/ui; sets up a scene over HTTP (a drained node, research borrowing all of acme's GPUs,
prod reclaiming 4 of them, so that research/r2 is stopped and waits; beta running b1 and b-mig, a 3g.40gb MIG slice); then
runs dashboard_test.mjs, which drives Debian's chromium headless through puppeteer-core and
checks each page against the API. Screenshots go to SHOTS. Usage: dashboard_test.py ALLOTD
SRCDIR SHOTS. Exit 77 (skipped) when chromium or tests/browser/node_modules is missing
(scripts/install-deps installs both). Stops the daemon (and the browser, in the .mjs) it
starts."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

SRC = sys.argv[2] if len(sys.argv) > 2 else "."
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
import allotd_harness  # noqa: E402

ALLOTD = sys.argv[1] if len(sys.argv) > 1 else "build/allotd"
SHOTS = sys.argv[3] if len(sys.argv) > 3 else "build/ui-screenshots"
HERE = os.path.join(SRC, "tests", "browser")
CHROMIUM = shutil.which("chromium")
FILLER = 400  # workloads of 3 events each before the scene


def wait_for(fn, what, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fn():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def scene(d):
    """The scene the pages are checked on. RET beta's viewer token."""
    d.call("POST", "/v1/nodes/gpu-c/drain", {"reason": "replacing PSU <img src=x id=xss>"})
    for name in ("r1", "r2"):
        d.call("POST", "/v1/workloads", {"workspace": "acme/research", "name": name, "gpus": 8,
                                         "grace": "1s"})
    d.call("POST", "/v1/workloads", {"workspace": "acme/prod", "name": "p1", "gpus": 4})
    d.call("POST", "/v1/workloads", {"workspace": "beta/lab", "name": "b1", "gpus": 2})
    d.call("POST", "/v1/workloads", {"workspace": "beta/lab", "name": "b-mig", "mig": "3g.40gb"})
    wait_for(lambda: d.call("GET", "/v1/workloads/acme/prod/p1")["state"] == "running",
             "the reclaim: p1 running")
    r2 = d.call("GET", "/v1/workloads/acme/research/r2")
    if r2["state"] != "pending":
        raise AssertionError(f"r2 should wait after the reclaim: {r2}")
    # then more than 1,000 events of short CPU-only work: the Workload page must find r2's
    # events by bisecting the stored events by time (ui/workload.js), not from the newest
    for i in range(FILLER):
        d.call("POST", "/v1/workloads", {"workspace": "acme/prod", "name": f"fill-{i}",
                                         "gpus": 0, "cpu": 1, "duration": "1ms"})
    wait_for(lambda: d.call("GET", f"/v1/workloads/acme/prod/fill-{FILLER - 1}")["state"] ==
             "finished", "the filler to finish")
    return d.user_token("beta-viewer", "viewer", tenant="beta")


def main():
    if not CHROMIUM or not os.path.isdir(os.path.join(HERE, "node_modules", "puppeteer-core")):
        print("skipped: chromium or tests/browser/node_modules missing (scripts/install-deps)")
        return 77
    tmp = tempfile.mkdtemp(prefix="allot-dashboard-")
    d = allotd_harness.Daemon(ALLOTD, os.path.join(tmp, "data"),
                              os.path.join(HERE, "platform.yaml"),
                              extra=["--ui-dir", os.path.join(SRC, "ui")])
    try:
        beta = scene(d)
        env = dict(os.environ, ALLOT_URL=d.url, ADMIN_TOKEN=d.admin, BETA_TOKEN=beta,
                   SHOTS=os.path.abspath(SHOTS), CHROMIUM=CHROMIUM)
        return subprocess.run(["node", os.path.join(HERE, "dashboard_test.mjs")], env=env,
                              timeout=120).returncode
    finally:
        d.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
