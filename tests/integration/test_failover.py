#!/usr/bin/env python3
"""A leader and a standby allotd over one private PostgreSQL server (issue 12): kill -9 the
leader while 8 clients submit and 2 real agents run workloads; the standby leads and admits
new work within 10 s, every acknowledged submission is there, no GPU is held twice, and the
running processes are the same processes. A leader that was paused and cut off comes back
deposed: it exits (status 3) and commits nothing. Skipped (77), not passed, without
PostgreSQL. Usage: test_failover.py ALLOTD ALLOT_AGENT SRCDIR"""
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ["ALLOT_TEST_STORE"] = "postgresql"
import allotd_harness  # noqa: E402,F401  (skips without PostgreSQL)
import failover  # noqa: E402
import pgcluster  # noqa: E402

ALLOTD = sys.argv[1] if len(sys.argv) > 1 else "build/allotd"
AGENT = sys.argv[2] if len(sys.argv) > 2 else "build/allot-agent"
SRC = sys.argv[3] if len(sys.argv) > 3 else "."


class Failover(unittest.TestCase):
    def setUp(self):
        self.pair = failover.Pair(ALLOTD, AGENT, SRC)

    def tearDown(self):
        self.pair.close()

    def test_kill_the_leader(self):
        p = self.pair
        pids = p.steady(["steady-1", "steady-2"])
        before = {n: p.workload(f"acme/prod/{n}")["placement"] for n in ("steady-1",
                                                                          "steady-2")}
        f = p.failover(clients=8)
        self.assertLess(f["placed_s"], 10, f)
        self.assertGreater(len(f["acked"]), 8, "the clients submitted next to nothing")
        # every acknowledged submission is there (running, ended, or in the history)
        for name in f["acked"]:
            w = p.workload(f"acme/research/{name}")
            self.assertEqual(w["name"], f"acme/research/{name}")
        self.assertEqual(p.held_twice(), [])
        # the same processes, still running, never started again
        for n, placement in before.items():
            w = p.workload(f"acme/prod/{n}")
            self.assertEqual(w["state"], "running", w)
            self.assertEqual(w["placement"], placement)
        time.sleep(1)  # the agents' next reports
        self.assertEqual(p.started_pids(), pids)
        for pid in pids:
            os.kill(pid, 0)  # alive
        # and the new leader drives them: a cancel reaches the old process
        st, _ = p.client.request("DELETE", "/v1/workloads/acme/prod/steady-1")
        self.assertEqual(st, 200)
        p.wait_state("acme/prod/steady-1", ("cancelled",))

    def test_a_standby_sends_clients_to_the_leader(self):
        p = self.pair
        leader = p.leader()
        standby = 1 - leader
        st, h, r = failover.http(p.urls[standby], "GET", "/healthz")
        self.assertEqual((st, r["role"], h.get("X-Allot-Role")), (200, "standby", "standby"))
        st, h, r = failover.http(p.urls[standby], "GET", "/readyz")
        self.assertEqual((st, r["status"], r["leader"]), (503, "standby", p.urls[leader]))
        st, h, r = failover.http(p.urls[leader], "GET", "/readyz")
        self.assertEqual((st, r["role"]), (200, "leader"))
        # the standby reads nothing of the request: no token needed to be sent elsewhere
        st, h, r = failover.http(p.urls[standby], "GET", "/v1/workloads?limit=5")
        self.assertEqual(st, 307, r)
        self.assertEqual(h.get("Location"), p.urls[leader] + "/v1/workloads?limit=5")
        self.assertEqual(h.get("X-Allot-Leader"), p.urls[leader])
        self.assertEqual(h.get("X-Allot-Role"), "standby")
        self.assertEqual(r["error"]["code"], "standby")
        # --advertise is held to the clients' rule for a server's URL
        for bad in ("ftp://x:7070", "http://", "http://a b"):
            run = subprocess.run([ALLOTD, "--advertise", bad, "--store", p.uri],
                                 capture_output=True, text=True, timeout=10)
            self.assertEqual(run.returncode, 2, (bad, run.stderr))
            self.assertIn("--advertise", run.stderr)

    def test_paused_leader_is_deposed(self):
        p = self.pair
        old = p.leader()
        proc = p.daemons[old][0]
        proc.send_signal(signal.SIGSTOP)
        try:
            # what a server does when it finds a client gone: its session ends, its lock goes
            pgcluster.shared().sql(
                "postgres", "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE"
                " locktype = 'advisory' AND granted AND objid = 1097624692")
            p.wait_role(1 - old, "leader")
            st, r = p.client.request("POST", "/v1/workloads", {
                "name": "after", "workspace": "acme/research", "gpus": 1,
                "command": ["true"]})
            self.assertEqual(st, 201, r)
        finally:
            proc.send_signal(signal.SIGCONT)
        # back, it learns within seconds that it no longer leads, and stops
        self.assertEqual(proc.wait(timeout=15), 3)
        self.assertIn("deposed", p.daemon_log(old))
        self.assertEqual(p.workload("acme/research/after")["name"], "acme/research/after")


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1] + sys.argv[4:], verbosity=2)
