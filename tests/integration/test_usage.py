#!/usr/bin/env python3
"""Integration tests of the GPU-hour ledger (issue 13, "GPU-hour accounting"; docs/api.md
"Usage"): the real allotd on 127.0.0.1 with virtual nodes. A run with borrowing, a reclaim
(borrowers preempted after their grace), a gang, MIG slices and a controller restart in the
middle: the ledger's total for the period equals the sum of the placements that the stored
event stream shows (admitted to its end, GPUs of each placement), split into guaranteed and
borrowed, with the reclaimed attempts lost; every view of it (by tenant, workspace, user,
model, MIG profile, day, workload, the metrics, the CLI's CSV) adds up to the same. Tenants
and workspaces see only their own; bad parameters are 400 naming the field.
Usage: test_usage.py ALLOTD SRCDIR [ALLOT]. The daemon is stopped and the directory removed
at the end of each test."""
import csv
import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allotd_harness  # noqa: E402

ALLOTD = sys.argv[1] if len(sys.argv) > 1 else "build/allotd"
SRC = sys.argv[2] if len(sys.argv) > 2 else "."
ALLOT = sys.argv[3] if len(sys.argv) > 3 else os.path.join(os.path.dirname(ALLOTD), "allot")

# acme: two nodes of 4 whole H100 and one H100 cut in 7 1g.10gb slices (1/7 of a GPU each,
# docs/policy.md "MIG"); prod reserves 4 GPUs, research none (all it holds is borrowed).
PLATFORM = """
tenants:
  - name: acme
    max_grace: 5m
    workspaces:
      - {name: prod, reserved: {gpu: 4}}
      - {name: research}
clusters:
  - name: shared-1
nodes:
  - {name: n1, cluster: shared-1, tenant: acme, cpu: 64, memory: 512Gi,
     gpus: [{model: H100-80GB, count: 4}]}
  - {name: n2, cluster: shared-1, tenant: acme, cpu: 64, memory: 512Gi,
     gpus: [{model: H100-80GB, count: 4}]}
  - {name: m1, cluster: shared-1, tenant: acme, cpu: 64, memory: 512Gi,
     gpus: [{model: H100-80GB, mig: [1g.10gb, 1g.10gb, 1g.10gb, 1g.10gb, 1g.10gb, 1g.10gb,
                                      1g.10gb]}]}
"""
SLICE = {"1g.10gb": 1 / 7}
ENDS = ("finished", "failed", "cancelled", "stopped")


def stored_events(port, token):
    """Every stored event the token may see, oldest first (GET /v1/events resumed from 0, read
    until the stream is quiet for a second)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    conn.request("GET", "/v1/events",
                 headers={"Authorization": f"Bearer {token}", "Last-Event-ID": "0"})
    resp = conn.getresponse()
    assert resp.status == 200, resp.status
    events, data = [], []
    try:
        while True:
            line = resp.readline().decode()
            if not line:
                break
            line = line.rstrip("\n")
            if line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and data:
                events.append(json.loads("".join(data)))
                data = []
    except (socket.timeout, TimeoutError):
        pass
    conn.close()
    return events


def placement_gpus(placement):
    """GPUs held by a placement: whole GPUs count 1, a MIG slice its share."""
    total = 0.0
    for r in placement:
        total += len(r["gpus"]) if "gpus" in r else SLICE[r["profile"]]
    return total


def expected_from_events(events):
    """GPU-seconds of every attempt the events show: admitted to its end. RET (total, lost, by
    workload, MIG part)."""
    open_ = {}
    total = lost = mig = 0.0
    per = {}
    for e in events:
        w = e.get("workload")
        if e["event"] == "admitted":
            open_[w] = (e["t"], placement_gpus(e["placement"]),
                        any("profile" in r for r in e["placement"]))
        elif e["event"] in ENDS and w in open_:
            t0, gpus, is_mig = open_.pop(w)
            used = gpus * (e["t"] - t0)
            total += used
            per[w] = per.get(w, 0.0) + used
            mig += used if is_mig else 0.0
            lost += used if e["event"] == "stopped" else 0.0
    assert not open_, f"attempts still open: {open_}"
    return total, lost, per, mig


class UsageTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="allot-usage-")
        self.data = os.path.join(self.tmp, "data")
        self.platform = os.path.join(self.tmp, "platform.yaml")
        with open(self.platform, "w") as f:
            f.write(PLATFORM)
        self.d = self.start()

    def tearDown(self):
        if self.d.proc.poll() is None:
            self.d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self):
        return allotd_harness.Daemon(ALLOTD, self.data, self.platform, ["--snapshot-every", "7"])

    def call(self, method, path, body=None, want=(200, 201), token=None):
        st, r = self.d.request(method, path, body, token=token or self.d.admin)
        self.assertIn(st, want, (method, path, r))
        return r

    def submit(self, token, **spec):
        return self.call("POST", "/v1/workloads", spec, token=token)

    def state(self, name):
        return self.call("GET", f"/v1/workloads/{name}")["state"]

    def wait_ended(self, names, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            states = {n: self.state(n) for n in names}
            if all(s in ("finished", "cancelled", "failed") for s in states.values()):
                return
            time.sleep(0.2)
        self.fail(f"not ended after {timeout} s: {states}")

    def usage(self, token=None, **params):
        now = int(time.time())
        q = {"from": now - 86400, "to": now + 3600, **params}
        path = "/v1/usage?" + "&".join(f"{k}={v}" for k, v in q.items())
        return self.call("GET", path, token=token)

    def test_ledger_equals_placements_across_a_restart(self):
        rita = self.d.user_token("rita", "member", "acme", "acme/research")
        paul = self.d.user_token("paul", "member", "acme", "acme/prod")
        # research borrows everything whole: a gang of 2 x 2 GPUs and a 3-GPU job (7 of 8);
        # two MIG slices; all with a 1 s grace so that a reclaim drains fast
        base = {"workspace": "acme/research", "grace": "1s"}
        self.submit(rita, name="gang", gpus=2, replicas=2, duration="6s", **base)
        self.submit(rita, name="three", gpus=3, duration="30s", **base)
        self.submit(rita, name="slices", mig="1g.10gb", replicas=2, duration="4s", **base)
        self.submit(rita, name="slice", mig="1g.10gb", duration="3s", **base)
        time.sleep(1.0)
        for n in ("acme/research/gang", "acme/research/three", "acme/research/slices"):
            self.assertEqual(self.state(n), "running", n)
        # prod claims its reservation (4): only 1 GPU is free, so borrowers are reclaimed
        self.submit(paul, name="serve", workspace="acme/prod", gpus=4, duration="5s")
        time.sleep(0.5)
        # the controller restarts in the middle of it all
        self.d.stop()
        self.d = self.start()
        self.wait_ended(["acme/research/gang", "acme/research/slices", "acme/research/slice",
                         "acme/prod/serve"])
        self.call("DELETE", "/v1/workloads/acme/research/three", want=(200, 202, 409))
        self.wait_ended(["acme/research/three"])
        time.sleep(0.3)

        total, lost, per, mig = expected_from_events(stored_events(self.d.port, self.d.admin))
        self.assertGreater(lost, 0, "the reclaim preempted nothing: the test proves little")
        self.assertGreater(mig, 0)
        u = self.usage(by="tenant")
        self.assertEqual([i["tenant"] for i in u["items"]], ["acme"])
        t = u["total"]
        self.assertAlmostEqual(t["gpu_seconds"], total, delta=0.01)
        self.assertAlmostEqual(t["guaranteed"] + t["borrowed"], t["gpu_seconds"], delta=0.002)
        self.assertAlmostEqual(t["lost"], lost, delta=0.01)
        self.assertGreater(t["borrowed"], 0)
        self.assertGreater(t["guaranteed"], 0)

        # every view adds up to the same total
        for by in ("workspace", "user", "model", "mig", "day", "workload"):
            v = self.usage(by=by)
            self.assertAlmostEqual(sum(i["gpu_seconds"] for i in v["items"]), total,
                                   delta=0.02, msg=by)
        ws = {i["workspace"]: i for i in self.usage(by="workspace")["items"]}
        # research reserves nothing: all its time is borrowed; prod ran within its reservation
        self.assertAlmostEqual(ws["acme/research"]["guaranteed"], 0, delta=0.002)
        self.assertAlmostEqual(ws["acme/prod"]["borrowed"], 0, delta=0.002)
        # every workload says who submitted it, also once it has ended
        self.assertEqual(self.call("GET", "/v1/workloads/acme/research/gang")["user"], "rita")
        self.assertEqual(self.call("GET", "/v1/workloads/acme/prod/serve")["user"], "paul")
        users = {i["user"]: i["gpu_seconds"] for i in self.usage(by="user")["items"]}
        self.assertEqual(set(users), {"rita", "paul"})
        self.assertAlmostEqual(users["paul"], per["acme/prod/serve"], delta=0.01)
        self.assertEqual([i["model"] for i in self.usage(by="model")["items"]], ["H100-80GB"])
        migs = {i["mig"]: i["gpu_seconds"] for i in self.usage(by="mig")["items"]}
        self.assertAlmostEqual(migs["1g.10gb"], mig, delta=0.01)
        self.assertAlmostEqual(migs["whole"], total - mig, delta=0.01)
        wls = {i["workload"]: i["gpu_seconds"] for i in self.usage(by="workload")["items"]}
        for name, used in per.items():
            self.assertAlmostEqual(wls[name], used, delta=0.01, msg=name)

        # the metrics: the same total, after the restart too
        metric = sum(self.d.metric("allot_gpu_seconds_total",
                                   f'{{tenant="acme",workspace="{w}",class="{c}"}}')
                     for w in ("acme/prod", "acme/research") for c in ("guaranteed", "borrowed"))
        self.assertAlmostEqual(metric, total, delta=0.02)
        # and again after another restart: the ledger is durable
        self.d.stop()
        self.d = self.start()
        self.assertAlmostEqual(self.usage(by="tenant")["total"]["gpu_seconds"], total, delta=0.01)

        # the CLI's CSV: one row per workspace, the same figures
        out = subprocess.run([ALLOT, "usage", "--since", "1d", "--by", "workspace", "-o", "csv",
                              "--server", self.d.url, "--token", self.d.admin],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        rows = list(csv.DictReader(io.StringIO(out.stdout)))
        self.assertEqual({r["workspace"] for r in rows}, {"acme/prod", "acme/research"})
        self.assertAlmostEqual(sum(float(r["gpu_seconds"]) for r in rows), total, delta=0.02)

    def test_long_periods_read_whole_days_from_the_day_rollups(self):
        """A period is summed from the day rollups for its whole days and from the hourly ones
        for the hours before and after them: rows of a day three days ago (written here in
        the store, the hours and their day consistent) count once, whatever the period."""
        self.d.stop()
        day = (int(time.time()) // 86400 - 3) * 86400 * 1000
        hour = 3600 * 1000
        rows = ", ".join(f"({day + i * hour}, 'acme', 'acme/prod', 'old', 'H100-80GB', '',"
                         f" 'guaranteed', {840 * 1000 * (i + 1)})" for i in range(24))
        allotd_harness.store_sql(self.data, "INSERT INTO usage_hours VALUES " + rows)
        allotd_harness.store_sql(self.data, "INSERT INTO usage_days VALUES "
                                 f"({day}, 'acme', 'acme/prod', 'old', 'H100-80GB', '',"
                                 f" 'guaranteed', {840 * 1000 * 300})")
        self.d = self.start()
        s = day // 1000

        def total(frm, to):
            return self.call("GET", f"/v1/usage?by=user&from={frm}&to={to}")["total"]["gpu_seconds"]
        self.assertAlmostEqual(total(s - 3600, s + 25 * 3600), 300.0)  # the day whole
        self.assertAlmostEqual(total(s + 6 * 3600, s + 30 * 3600), 300.0 - 21)  # from 06:00
        self.assertAlmostEqual(total(s - 86400, s + 2 * 86400), 300.0)  # three days
        self.assertAlmostEqual(total(s, s + 3600), 1.0)  # its first hour
        by_day = self.call("GET", f"/v1/usage?by=day&from={s - 86400}&to={s + 2 * 86400}")
        self.assertEqual([(i["day"], i["gpu_seconds"]) for i in by_day["items"]],
                         [(time.strftime("%Y-%m-%d", time.gmtime(s)), 300.0)])

    def test_reclaims_are_measured(self):
        """A reclaim's latency, from the reclaim's start (the reclaimer queued `reclaiming`) to
        the reclaimer's admission, as the stored events show it: while the reclaimer runs and
        after it ended (from the ledger); another tenant sees none of it."""
        self.d.add_tenant_beta()
        base = {"workspace": "acme/research", "grace": "1s", "duration": "1h"}
        for i in range(2):
            self.submit(self.d.admin, name=f"b{i}", gpus=4, **base)
        time.sleep(0.3)
        self.submit(self.d.admin, name="serve", workspace="acme/prod", gpus=4, duration="3s")
        deadline = time.time() + 20
        while time.time() < deadline and self.state("acme/prod/serve") != "running":
            time.sleep(0.1)
        self.assertEqual(self.state("acme/prod/serve"), "running")
        events = stored_events(self.d.port, self.d.admin)
        began = [e["t"] for e in events if e["event"] == "queued" and
                 e.get("workload") == "acme/prod/serve" and e.get("reason") == "reclaiming"]
        admitted = [e["t"] for e in events if e["event"] == "admitted" and
                    e.get("workload") == "acme/prod/serve"]
        self.assertEqual(len(began), 1, events)
        want = admitted[-1] - began[0]
        self.assertGreater(want, 0.5)  # the borrowers' grace: about a second
        now = int(time.time())
        path = f"/v1/usage/reclaims?from={now - 3600}&to={now + 60}"
        for when in ("running", "ended"):
            if when == "ended":
                self.wait_ended(["acme/prod/serve"])
            r = self.call("GET", path)
            self.assertEqual(r["count"], 1, (when, r))
            self.assertEqual(r["items"][0]["workload"], "acme/prod/serve")
            self.assertAlmostEqual(r["items"][0]["seconds"], want, delta=0.002)
            self.assertAlmostEqual(r["median_seconds"], want, delta=0.002)
            self.assertAlmostEqual(r["max_seconds"], want, delta=0.002)
        beta = self.d.user_token("bea", "tenant-admin", "beta")
        r = self.call("GET", path, token=beta)
        self.assertEqual((r["count"], r["items"], r["median_seconds"]), (0, [], None))
        st, r = self.d.request("GET", path + "&tenant=acme", token=beta)
        self.assertEqual(st, 404, r)
        st, r = self.d.request("GET", f"/v1/usage/reclaims?from=abc", token=self.d.admin)
        self.assertEqual((st, r["error"]["field"]), (400, "from"))

    def test_running_work_counts_up_to_now(self):
        self.submit(self.d.admin, name="long", workspace="acme/prod", gpus=2, duration="1h")
        time.sleep(1.2)
        first = self.usage(by="workload")["total"]["gpu_seconds"]
        time.sleep(1.0)
        second = self.usage(by="workspace")["total"]["gpu_seconds"]
        self.assertGreater(first, 2.0)  # 2 GPUs for more than a second
        self.assertGreater(second, first + 1.5)  # and it grows while it runs
        self.assertLess(second, 2 * 10)

    def test_tenants_and_workspaces_see_their_own(self):
        self.d.add_tenant_beta()
        self.submit(self.d.admin, name="mine", workspace="beta/lab", gpus=1, duration="1s")
        self.submit(self.d.admin, name="p", workspace="acme/prod", gpus=1, duration="1s")
        self.submit(self.d.admin, name="r", workspace="acme/research", gpus=1, duration="1s")
        self.wait_ended(["beta/lab/mine", "acme/prod/p", "acme/research/r"])
        beta = self.d.user_token("bea", "tenant-admin", "beta")
        rita = self.d.user_token("rita", "member", "acme", "acme/research")
        self.assertEqual([i["tenant"] for i in self.usage(token=beta, by="tenant")["items"]],
                         ["beta"])
        self.assertEqual([i["workspace"] for i in self.usage(token=rita)["items"]],
                         ["acme/research"])
        every = {i["tenant"] for i in self.usage(by="tenant")["items"]}
        self.assertEqual(every, {"acme", "beta"})  # the platform admin sees every tenant
        now = int(time.time())
        for token, query in ((beta, "tenant=acme"), (beta, "workspace=acme/prod"),
                             (rita, "workspace=acme/prod"), (rita, "tenant=beta")):
            st, r = self.d.request("GET", f"/v1/usage?{query}&from={now - 3600}", token=token)
            self.assertEqual(st, 404, (query, r))
        m = self.d.request("GET", "/metrics", token=beta)[1]
        self.assertIn('allot_gpu_seconds_total{tenant="beta"', m)
        self.assertNotIn('allot_gpu_seconds_total{tenant="acme"', m)

    def test_bad_parameters_name_the_field(self):
        now = int(time.time())
        for query, field in (("by=nope", "by"), ("from=abc", "from"), ("to=-5", "to"),
                             (f"from={now}&to={now - 7200}", "from"),
                             (f"from={now - 500 * 86400}&to={now}", "from"),
                             ("workspace=noslash", "workspace")):
            st, r = self.d.request("GET", f"/v1/usage?{query}", token=self.d.admin)
            self.assertEqual(st, 400, query)
            self.assertEqual(r["error"]["field"], field, query)
        st, r = self.d.request("GET", "/v1/usage?tenant=nope", token=self.d.admin)
        self.assertEqual(st, 404, r)
        st, r = self.d.request("GET", "/v1/usage")
        self.assertEqual(st, 401, r)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1])
