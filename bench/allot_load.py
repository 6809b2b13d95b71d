#!/usr/bin/env python3
"""The reclaim rounds of bench/bench_agents.sh (Python standard library only): submits
workloads to a running allotd over HTTP and measures how soon a reserved workspace gets its
GPUs back. Not run alone: the script starts the daemon and agents and sets ALLOT_URL and
ALLOT_TOKEN. The throughput rounds use the compiled bench/bench_load.c.

  allot_load.py reclaim --rounds R --grace G --gpus T --marks DIR
                                                   reserved workspace's submit -> its process
"""
import argparse
import http.client
import json
import os
import re
import statistics
import sys
import threading
import time
import urllib.parse

URL = urllib.parse.urlparse(os.environ.get("ALLOT_URL", "http://127.0.0.1:17272"))
TOKEN = os.environ.get("ALLOT_TOKEN", "")
TENANT = "bench"


class Client:
    """One keep-alive HTTP connection to allotd."""

    def __init__(self):
        self.conn = http.client.HTTPConnection(URL.hostname, URL.port, timeout=30)

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {TOKEN}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(2):  # once more on a connection the server closed
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                text = r.read()
                return r.status, text
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(URL.hostname, URL.port, timeout=30)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def json(self, method, path, body=None):
        status, text = self.request(method, path, body)
        return status, json.loads(text) if text else None


def submit_all(bodies, conns):
    """POSTs every body over conns keep-alive connections; returns the replies' states."""
    states = {}
    errors = []
    lock = threading.Lock()
    chunks = [bodies[i::conns] for i in range(conns)]

    def worker(chunk):
        c = Client()
        for body in chunk:
            status, reply = c.json("POST", "/v1/workloads", body)
            with lock:
                if status not in (200, 201):
                    errors.append((status, reply))
                else:
                    states[reply["state"]] = states.get(reply["state"], 0) + 1

    threads = [threading.Thread(target=worker, args=(ch,)) for ch in chunks if ch]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        sys.exit(f"allot_load: {len(errors)} submissions failed, first: {errors[0]}")
    return states


def wait_for(pred, timeout, poll=0.01):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(poll)
    return None


def reclaim(args):
    """research borrows all GPUs with `sleep 600` workloads (1 GPU each) that ignore SIGTERM
    (or exit at once with --cooperative); then, per round, prod (a reserved workspace)
    submits a one-GPU workload; the time from its submission to its process running (a
    timestamp the process writes first thing) is the reclaim latency. prod's workload is
    then cancelled and the victim runs again before the next round."""
    c = Client()
    os.makedirs(args.marks, exist_ok=True)
    os.chmod(args.marks, 0o1777)  # the workloads write here, as nobody when the agent is root
    trap = "" if args.cooperative else "trap '' TERM; "
    research = []
    for i in range(args.gpus):
        research.append({"name": f"borrow-{i}", "workspace": f"{TENANT}/research", "gpus": 1,
                         "kind": "experiment", "grace": args.grace,
                         "env": {"MARK": os.path.join(args.marks, f"borrow-{i}")},
                         "command": ["/bin/sh", "-c",
                                     trap + 'date +%s.%N > "$MARK"; exec sleep 600']})
    submit_all(research, 8)

    def all_borrowed():
        s, ws = c.json("GET", f"/v1/workspaces/{TENANT}/research")
        return s == 200 and float(ws["usage"]["gpu_held"]) == args.gpus

    def all_marked():
        return sum(os.path.exists(os.path.join(args.marks, f"borrow-{i}"))
                   for i in range(args.gpus)) == args.gpus

    if not wait_for(all_borrowed, 30, 0.1) or not wait_for(all_marked, 30, 0.1):
        sys.exit("allot_load: research did not get every GPU running within 30 s")
    grace_s = parse_seconds(args.grace)
    rows = []
    for k in range(args.rounds):
        name = f"serve-{k}"
        mark = os.path.join(args.marks, name)
        body = {"name": name, "workspace": f"{TENANT}/prod", "gpus": 1, "kind": "inference",
                "grace": "0s", "env": {"MARK": mark},
                "command": ["/bin/sh", "-c", 'date +%s.%N > "$MARK"; exec sleep 600']}
        t0 = time.time()
        status, w = c.json("POST", "/v1/workloads", body)
        if status != 201:
            sys.exit(f"allot_load: prod submission: HTTP {status} {w}")
        first_state = w["state"]
        view = {}

        def running():
            s, x = c.json("GET", f"/v1/workloads/{TENANT}/prod/{name}")
            if s == 200 and x["state"] == "running" and "admitted" not in view:
                view["admitted"] = time.time()
                view["started_ms"] = x.get("started")
            return os.path.exists(mark) and os.path.getsize(mark) > 0

        if not wait_for(running, grace_s + 30, 0.01):
            sys.exit(f"allot_load: prod's workload {name} did not run within {grace_s + 30} s")
        with open(mark) as f:
            t_run = float(f.read().strip())
        # the controller's own start time of the workload (ms since the epoch, this clock)
        admitted = view["started_ms"] / 1000 if view.get("started_ms") else view.get("admitted", t_run)
        rows.append({"round": k, "state_at_submit": first_state, "latency_s": t_run - t0,
                     "admitted_s": admitted - t0, "agent_s": t_run - admitted})
        print(f"round {k}: submitted ({first_state}); controller placed it after "
              f"{admitted - t0:.3f} s; its process ran {t_run - t0:.3f} s after submission",
              file=sys.stderr)
        # the victims were requeued: their marks go, and come back when they run again
        s, page = c.json("GET", f"/v1/workloads?workspace={TENANT}/research&state=pending"
                         "&limit=1000")
        for x in page["items"]:
            os.unlink(os.path.join(args.marks, x["name"].split("/")[-1]))
        # give the GPU back; the victims are placed again before the next round
        c.request("DELETE", f"/v1/workloads/{TENANT}/prod/{name}")
        if not wait_for(all_borrowed, 30, 0.05) or not wait_for(all_marked, 30, 0.05):
            sys.exit("allot_load: research did not run on every GPU again within 30 s")
        time.sleep(args.settle)
    lat = [r["latency_s"] for r in rows]
    print(json.dumps({"grace_s": grace_s, "rounds": rows,
                      "p50_s": statistics.median(lat), "max_s": max(lat),
                      "p50_over_grace_s": statistics.median(lat) - grace_s,
                      "max_over_grace_s": max(lat) - grace_s,
                      "victims_ignore_sigterm": not args.cooperative}))


def parse_seconds(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", text)
    if not m:
        sys.exit(f"allot_load: grace {text}: expected like 5s, 500ms or 1m")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[m.group(2)]


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("reclaim")
    r.add_argument("--rounds", type=int, default=5)
    r.add_argument("--grace", default="5s")
    r.add_argument("--gpus", type=int, default=128)
    r.add_argument("--marks", required=True)
    r.add_argument("--settle", type=float, default=1.0)
    r.add_argument("--cooperative", action="store_true")
    args = p.parse_args()
    {"reclaim": reclaim}[args.cmd](args)


if __name__ == "__main__":
    main()
