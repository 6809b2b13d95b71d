#!/usr/bin/env python3
"""Integration tests of pending workloads explained (issue 13): the specific sentence of the
queue reason in the submit answer, the view and /why; positions in the workspace's queue and
the tenant's; the holders of what a workload waits for (a borrower being reclaimed, the
running work at a workspace limit), named only to those who may see them; the estimated
start on virtual nodes with known durations, and "unknown" with why where there is none; all
of it the same after restarts (a full journal replay, then a snapshot). The real allotd on
127.0.0.1 with virtual nodes and a temporary data directory. Usage: test_pending.py ALLOTD
SRCDIR. The daemon is stopped and the directory removed at the end of each test."""
import json
import os
import shutil
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allotd_harness  # noqa: E402

ALLOTD = sys.argv[1] if len(sys.argv) > 1 else "build/allotd"
SRC = sys.argv[2] if len(sys.argv) > 2 else "."
PLATFORM = os.path.join(SRC, "examples", "platform.yaml")
MIN = 60 * 1000


class PendingTest(allotd_harness.DaemonCase):
    ALLOTD = ALLOTD
    PREFIX = "allot-pending-"
    PLATFORM = PLATFORM

    def submit(self, ws, name, gpus, duration=None):
        body = {"workspace": ws, "name": name, "gpus": gpus}
        if duration:
            body["duration"] = duration
        return self.d.call("POST", "/v1/workloads", body)

    def why(self, name, token=None):
        st, r = self.d.request("GET", f"/v1/workloads/{name}/why", token=token or self.d.admin)
        self.assertEqual(st, 200, r)
        return r

    def view(self, name):
        return self.d.call("GET", f"/v1/workloads/{name}")

    def fill(self):
        """acme/lab (reserving 6, limited to 6) runs l1 (4 GPUs, 20m) and l2 (2, 40m); acme/ops
        (limited to 1) runs o1 without a duration; research borrows the rest, b1 (8, 1h) and
        b2 (1, no duration): all 16 GPUs are in use."""
        self.d.call("POST", "/v1/workspaces", {"name": "acme/lab", "reserved": {"gpu": 6},
                                               "limits": {"gpu": 6}})
        self.d.call("POST", "/v1/workspaces", {"name": "acme/ops", "limits": {"gpu": 1}})
        self.submit("acme/lab", "l1", 4, "20m")
        self.submit("acme/lab", "l2", 2, "40m")
        self.submit("acme/ops", "o1", 1)
        self.submit("acme/research", "b1", 8, "1h")
        self.submit("acme/research", "b2", 1)
        for n in ("lab/l1", "lab/l2", "ops/o1", "research/b1", "research/b2"):
            self.assertEqual(self.view(f"acme/{n}")["state"], "running", n)

    def test_pending_explained(self):
        self.fill()
        # a workload at its workspace's limit: the specific sentence in the submit answer
        l3 = self.submit("acme/lab", "l3", 1)
        self.assertEqual((l3["state"], l3["reason"]), ("pending", "workspace_limit"))
        sentence = "workspace acme/lab holds 6 of its 6 gpu limit; this workload needs 1 more"
        self.assertEqual(l3["reason_message"], sentence)
        self.assertEqual(self.view("acme/lab/l3")["reason_message"], sentence)
        why = self.why("acme/lab/l3")
        self.assertEqual(why["message"], sentence)
        self.assertEqual(why["position"], {"workspace": {"index": 1, "of": 1},
                                           "tenant": {"index": 1, "of": 1}})
        self.assertEqual((why["ahead"], why["ahead_total"]), ([], 0))
        holders = {h["workload"]: h for h in why["holders"]}
        self.assertEqual(sorted(holders), ["acme/lab/l1", "acme/lab/l2"])
        self.assertEqual({h["role"] for h in why["holders"]}, {"holds the workspace limit"})
        l2 = self.view("acme/lab/l2")
        self.assertEqual(holders["acme/lab/l2"]["ends"], l2["started"] + 40 * MIN)
        # the later of the two known ends
        self.assertEqual(why["estimated_start"], l2["started"] + 40 * MIN)
        self.assertIn("last workload holding what it waits for", why["estimated_start_reason"])

        # positions after more submissions; the one behind gets no estimate, and says why
        self.submit("acme/lab", "l4", 1)
        o2 = self.submit("acme/ops", "o2", 1)
        self.assertIn("acme/ops holds 1 of its 1 gpu limit", o2["reason_message"])
        why = self.why("acme/lab/l4")
        self.assertEqual(why["position"], {"workspace": {"index": 2, "of": 2},
                                           "tenant": {"index": 2, "of": 3}})
        self.assertEqual((why["ahead"], why["ahead_total"]), (["acme/lab/l3"], 1))
        self.assertIsNone(why["estimated_start"])
        self.assertIn("ahead of it", why["estimated_start_reason"])
        self.assertEqual(self.why("acme/ops/o2")["position"]["tenant"], {"index": 3, "of": 3})
        # the workspace's queue as Kueue's visibility API lists one, in pages
        page = self.d.call("GET", "/v1/workspaces/acme/lab/pending")
        self.assertEqual((page["pending"], page["tenant_pending"]), (2, 3))
        self.assertEqual([(w["name"], w["position"]) for w in page["items"]],
                         [("acme/lab/l3", {"workspace": {"index": 1, "of": 2},
                                           "tenant": {"index": 1, "of": 3}}),
                          ("acme/lab/l4", {"workspace": {"index": 2, "of": 2},
                                           "tenant": {"index": 2, "of": 3}})])
        self.assertEqual(page["items"][0]["reason_message"], sentence)
        self.assertNotIn("next", page)
        page = self.d.call("GET", "/v1/workspaces/acme/lab/pending?limit=1")
        self.assertEqual(([w["name"] for w in page["items"]], page["next"]), (["acme/lab/l3"], 1))
        page = self.d.call("GET", "/v1/workspaces/acme/lab/pending?limit=1&offset=1")
        self.assertEqual(([w["name"] for w in page["items"]], page.get("next")),
                         (["acme/lab/l4"], None))
        st, r = self.d.request("GET", "/v1/workspaces/acme/lab/pending?limit=0",
                               token=self.d.admin)
        self.assertEqual((st, r["error"]["field"]), (400, "limit"))
        # once those ahead are gone, o2 is first: o1 runs without a known end
        self.d.call("DELETE", "/v1/workloads/acme/lab/l3")
        self.d.call("DELETE", "/v1/workloads/acme/lab/l4")
        why = self.why("acme/ops/o2")
        self.assertEqual(why["position"]["tenant"], {"index": 1, "of": 1})
        self.assertEqual([h["workload"] for h in why["holders"]], ["acme/ops/o1"])
        self.assertIsNone(why["holders"][0]["ends"])
        self.assertIsNone(why["estimated_start"])
        self.assertEqual(why["estimated_start_reason"],
                         "unknown: 1 of the 1 workload(s) it waits for have no known end (no "
                         "duration or time limit)")

        # prod's reservation reclaims a borrower: b2 (fewest GPUs, started last) drains for p1
        before = int(time.time() * 1000)
        p1 = self.submit("acme/prod", "p1", 1)
        self.assertEqual(p1["state"], "reclaiming")
        self.assertIn("reclaiming borrowed GPUs of tenant acme", p1["reason_message"])
        why = self.why("acme/prod/p1")
        self.assertIsNone(why["position"])  # its room is claimed: it is in no queue
        self.assertEqual([(h["workload"], h["role"], h["state"]) for h in why["holders"]],
                         [("acme/research/b2", "borrower being reclaimed", "draining")])
        # b2 stops when its grace period (30 s) ends: p1 starts then
        self.assertGreaterEqual(why["estimated_start"], before + 30 * 1000)
        self.assertLess(why["estimated_start"], int(time.time() * 1000) + 31 * 1000)

        # a member of another workspace sees counts, not names; another tenant sees nothing
        member = self.d.user_token("pat", "member", tenant="acme", workspace="acme/prod")
        seen = self.why("acme/prod/p1", token=member)
        self.assertEqual((seen["holders"], seen["holders_hidden"], seen["holders_total"]),
                         ([], 1, 1))
        self.assertNotIn("acme/research/b2", str(seen))
        st, _ = self.d.request("GET", "/v1/workspaces/acme/lab/pending", token=member)
        self.assertEqual(st, 404)  # a workspace it may not view
        self.assertEqual(self.d.request("GET", "/v1/workspaces/acme/prod/pending",
                                        token=member)[0], 200)
        viewer = self.d.user_token("vic", "viewer", tenant="acme")
        self.assertEqual(self.why("acme/prod/p1", token=viewer)["holders"][0]["workload"],
                         "acme/research/b2")
        self.d.add_tenant_beta()
        stranger = self.d.user_token("eve", "tenant-admin", tenant="beta")
        for path in ("workloads/acme/prod/p1/why", "workloads/acme/ops/o2/why",
                     "workloads/acme/ops/o2", "workspaces/acme/lab/pending"):
            st, r = self.d.request("GET", f"/v1/{path}", token=stranger)
            self.assertEqual(st, 404, (path, r))
            self.assertNotIn("acme/research", str(r))

        # a borrower that cannot borrow: no estimate, and why
        u1 = self.submit("acme/research", "u1", 2, "1h")
        self.assertEqual(u1["reason"], "borrow_unavailable")
        self.assertIn("can be borrowed now", u1["reason_message"])
        self.assertIsNone(self.why("acme/research/u1")["estimated_start"])

        # the same answers after a full replay of the journal (no snapshot yet) ...
        names = ("acme/ops/o2", "acme/prod/p1", "acme/research/u1", "acme/lab/l3")

        def answers():
            return {n: (self.view(n), self.why(n)) for n in names}

        before = answers()
        self.restart(signal.SIGKILL)
        self.assertEqual(answers(), before)
        with open(self.data + ".log") as f:
            self.assertNotIn("started from the snapshot", f.read())
        # ... and from a snapshot (a clean stop writes one) with nothing to replay
        self.submit("acme/research", "u2", 2)
        names += ("acme/research/u2",)
        before = answers()
        self.restart(signal.SIGTERM)
        with open(self.data + ".log") as f:
            self.assertIn("replaying the 0 entries after it", f.read())
        self.assertEqual(answers(), before)
        self.assertIn("can be borrowed now", self.view("acme/research/u2")["reason_message"])
        # a repeated submission (its idempotency key) answers the same view, sentence included
        body = {"workspace": "acme/research", "name": "u3", "gpus": 2, "idempotency_key": "k3"}
        st1, first = self.d.request("POST", "/v1/workloads", body, token=self.d.admin)
        st2, again = self.d.request("POST", "/v1/workloads", body, token=self.d.admin)
        self.assertEqual((st1, st2), (201, 200))
        self.assertIn("reason_message", first)
        self.assertEqual(again, first)

        # a snapshot whose records predate the sentence (eight fields each) still loads: the
        # state is the same, and the views fall back to the rule's explanation
        before = answers()
        self.d.stop(signal.SIGTERM)  # a clean stop: a snapshot of everything
        seq, text = allotd_harness.store_sql(
            self.data, "SELECT seq, controller FROM snapshots ORDER BY seq DESC LIMIT 1")[0]
        records = json.loads(text)
        self.assertTrue(any(w[8] for w in records["workloads"]))
        records["workloads"] = [w[:8] for w in records["workloads"]]
        old = json.dumps(records).replace("'", "''")
        allotd_harness.store_sql(self.data,
                                 f"UPDATE snapshots SET controller = '{old}' WHERE seq = {seq}")
        self.d = allotd_harness.Daemon(ALLOTD, self.data, PLATFORM)
        with open(self.data + ".log") as f:
            self.assertIn(f"started from the snapshot of journal entry {seq} ", f.read())
        after = answers()
        for n in names:
            was, now = before[n][0], after[n][0]  # the views
            self.assertEqual({k: v for k, v in was.items() if k != "reason_message"}, now, n)
        self.assertNotIn("reason_message", self.view("acme/research/u2"))
        self.assertEqual(self.why("acme/research/u2")["message"],
                         self.why("acme/research/u2")["explanation"])


    def test_starvation_sentence_names_no_other_workspace(self):
        """The starvation guard's sentence names the starving workload; a view that members of
        other workspaces read says "a workload of another workspace" instead, and /why names
        it only to those who may see it."""
        self.d.stop()
        platform = os.path.join(self.tmp, "starve.yaml")
        with open(platform, "w") as f:
            f.write("scheduler: {starvation_age: 1s}\n"
                    "tenants: [{name: t, workspaces: [{name: a}, {name: b}]}]\n"
                    "clusters: [{name: c}]\n"
                    "nodes: [{name: n, cluster: c, tenant: t, cpu: 8, memory: 8Gi,"
                    " gpus: [{model: H100-80GB, count: 8}]}]\n")
        shutil.rmtree(self.data, ignore_errors=True)
        self.d = allotd_harness.Daemon(ALLOTD, self.data, platform)
        self.submit("t/a", "x1", 6, "1h")
        self.assertEqual(self.submit("t/b", "s", 4)["state"], "pending")
        time.sleep(1.3)  # s starves: the guard keeps room for it
        y = self.submit("t/a", "y", 1)
        self.assertEqual((y["state"], y["reason"]), ("pending", "starvation_guard"))
        self.assertNotIn("t/b/s", y["reason_message"])
        self.assertIn("a workload of another workspace", y["reason_message"])
        self.assertNotIn("t/b/s", str(self.view("t/a/y")))
        starving = [h for h in self.why("t/a/y")["holders"] if h["role"] ==
                    "starving workload first"]
        self.assertEqual([h["workload"] for h in starving], ["t/b/s"])
        member = self.d.user_token("ann", "member", tenant="t", workspace="t/a")
        seen = self.why("t/a/y", token=member)
        self.assertNotIn("t/b/s", str(seen))
        self.assertGreaterEqual(seen["holders_hidden"], 1)
        self.assertIsNone(seen["estimated_start"])

if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
