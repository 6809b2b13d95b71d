#!/usr/bin/env python3
"""Integration tests of topology-aware gangs (issue 15, docs/policy.md "Topology"): the
platform file's `topology` levels reach the engine through the journal; a workload's
`topology` is refused with 400 naming topology.required when the level is not declared
(nothing created); a gang that requires a block waits with reason topology rather than split,
shown in its view; all of it the same after a full journal replay (SIGKILL) and after a
snapshot (SIGTERM); another tenant's nodes with the same label are never in a tenant's
domain. The real allotd on 127.0.0.1 with virtual nodes and a temporary data directory.
Usage: test_topology.py ALLOTD. The daemon is stopped and the directory removed at the end of
each test."""
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allotd_harness  # noqa: E402

ALLOTD = sys.argv[1] if len(sys.argv) > 1 else "build/allotd"

NODE = ("  - {name: %s, cluster: main, tenant: %s, cpu: 64, memory: 512Gi, "
        "labels: {block: %s}, gpus: [{model: H100-80GB, count: 8}]}\n")
PLATFORM = ("topology: [block]\n"
            "tenants:\n"
            "  - name: acme\n"
            "    workspaces: [{name: team}]\n"
            "  - name: beta\n"
            "    workspaces: [{name: lab}]\n"
            "clusters: [{name: main}]\n"
            "nodes:\n"
            + NODE % ("a1", "acme", "A") + NODE % ("a2", "acme", "A")
            + NODE % ("b1", "acme", "B") + NODE % ("b2", "acme", "B")
            + NODE % ("x1", "beta", "A") + NODE % ("x2", "beta", "C"))


class TopologyTest(allotd_harness.DaemonCase):
    ALLOTD = ALLOTD
    PREFIX = "allot-topology-"
    PLATFORM_TEXT = PLATFORM

    def submit(self, name, gpus, replicas=1, topology=None, ws="acme/team"):
        body = {"workspace": ws, "name": name, "gpus": gpus, "replicas": replicas,
                "grace": "0s"}
        if topology:
            body["topology"] = topology
        return self.d.request("POST", "/v1/workloads", body, token=self.d.admin)

    def view(self, name):
        return self.d.call("GET", f"/v1/workloads/{name}")

    def end(self, name):
        """Cancel workload name (no grace: its virtual node stops it at once) and wait until
        it is over."""
        self.d.call("DELETE", f"/v1/workloads/acme/team/{name}")
        deadline = time.time() + 10
        while self.view(f"acme/team/{name}")["state"] != "cancelled":
            self.assertLess(time.time(), deadline, f"{name} is not cancelled")
            time.sleep(0.05)

    def test_unknown_level_is_refused_and_creates_nothing(self):
        for key in ("required", "preferred"):
            st, r = self.submit("g-" + key, 8, 2, {key: "zone"})
            self.assertEqual(st, 400, r)
            self.assertEqual(r["error"]["field"], "topology." + key, r)
            self.assertIn("'zone' is not a topology level", r["error"]["message"])
            st, r = self.d.request("GET", "/v1/workloads/acme/team/g-" + key,
                                   token=self.d.admin)
            self.assertEqual(st, 404, r)
        st, r = self.submit("both", 8, 2, {"required": "block", "preferred": "block"})
        self.assertEqual(st, 400, r)
        self.assertEqual(r["error"]["field"], "topology.required", r)

    def test_required_gang_waits_and_survives_restarts(self):
        # f1 and f2 fill block A (the fuller block first), f3 takes b1: free are only b2 and
        # nothing else of acme; end f2: a2 and b2 are free, one node in each block
        for name in ("f1", "f2", "f3"):
            st, r = self.submit(name, 8)
            self.assertEqual(st, 201, r)
            self.assertEqual(r["state"], "running", r)
        self.end("f2")
        st, g = self.submit("g", 8, 2, {"required": "block"})
        self.assertEqual(st, 201, g)
        self.assertEqual(g["state"], "pending", g)
        self.assertEqual(g["reason"], "topology", g)
        self.assertEqual(g["topology"], {"required": "block"}, g)
        self.assertIn("no block of tenant acme has room", g["reason_message"])
        st, p = self.submit("p", 8, 2, {"preferred": "block"})
        self.assertEqual(st, 201, p)
        self.assertEqual(p["state"], "running", p)  # it splits: no block has room
        self.assertEqual(p["topology"], {"preferred": "block"}, p)
        for sig in (signal.SIGKILL, signal.SIGTERM):  # a journal replay, then a snapshot
            self.restart(sig)
            g2 = self.view("acme/team/g")
            self.assertEqual((g2["state"], g2["reason"], g2["topology"]),
                             ("pending", "topology", {"required": "block"}), g2)
            self.assertEqual(self.view("acme/team/p")["state"], "running")
        # block A empties: g runs there, both replicas on a1 and a2
        self.end("p")
        self.end("f1")
        deadline = time.time() + 10
        while self.view("acme/team/g")["state"] != "running":
            self.assertLess(time.time(), deadline, self.view("acme/team/g"))
            time.sleep(0.05)
        g3 = self.view("acme/team/g")
        nodes = sorted(r["node"] for r in g3["placement"])
        self.assertEqual(nodes, ["a1", "a2"], g3)

    def test_another_tenants_nodes_are_not_in_the_domain(self):
        # beta's x1 is labelled block A too: acme's block A is a1 and a2 only, so a gang of
        # three whole nodes fits no block of acme (rejected, never_fits) ...
        st, r = self.submit("three", 8, 3, {"required": "block"})
        self.assertEqual(st, 201, r)
        self.assertEqual((r["state"], r["reason"]), ("rejected", "never_fits"), r)
        # ... and beta's gang in its block A (x1 alone) cannot use acme's a1 or a2
        st, r = self.submit("pair", 8, 2, {"required": "block"}, ws="beta/lab")
        self.assertEqual(st, 201, r)
        self.assertEqual((r["state"], r["reason"]), ("rejected", "never_fits"), r)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
