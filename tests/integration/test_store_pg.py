#!/usr/bin/env python3
"""allotd with its store in PostgreSQL (--store postgresql://...) when the server restarts
under it: the change in flight is answered 503 and not applied, the daemon is read-only
until its probe writes again, then accepts changes without a restart of its own, and a
restarted allotd finds exactly what was acknowledged. A private server of the test's own
(pgcluster.py); skipped (77), not passed, without PostgreSQL.
Usage: test_store_pg.py ALLOTD SRCDIR"""
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ["ALLOT_TEST_STORE"] = "postgresql"
import allotd_harness  # noqa: E402
import pgcluster  # noqa: E402

ALLOTD = sys.argv[1] if len(sys.argv) > 1 else "build/allotd"
SRC = sys.argv[2] if len(sys.argv) > 2 else "."
PLATFORM = os.path.join(SRC, "examples", "platform.yaml")


class ServerRestart(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="allot-pgit-")
        self.data = os.path.join(self.tmp, "data")
        self.d = allotd_harness.Daemon(ALLOTD, self.data, PLATFORM)

    def tearDown(self):
        if self.d.proc.poll() is None:
            self.d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def submit(self, name):
        return self.d.request("POST", "/v1/workloads",
                              {"name": name, "workspace": "acme/prod", "gpus": 1,
                               "duration": "1h"}, token=self.d.admin)

    def log(self):
        with open(self.data + ".log") as f:
            return f.read()

    def exists(self, name):
        st, _ = self.d.request("GET", f"/v1/workloads/acme/prod/{name}", token=self.d.admin)
        return st == 200

    def test_server_restart_under_allotd(self):
        st, r = self.submit("before")
        self.assertEqual(st, 201, r)
        pgcluster.shared().ctl("restart")
        # the first store call after the restart meets the lost connection: the look-up of
        # the name in the history (the submission is refused, 503, fail closed: a name the
        # history holds must never be taken for want of reading it), or this change's commit
        # (refused, 500 "io" or 503, not applied, and the daemon read-only)
        # (unless a call of allotd's own met it first and the store reconnected meanwhile,
        # as on a slow machine where the restart outlasts a background call: then the
        # submission is committed and acknowledged, and must be kept)
        st, r = self.submit("lost")
        acknowledged = ["before"]
        refused = ["lost"]
        if st == 201:
            acknowledged, refused = ["before", "lost"], []
        else:
            self.assertIn(st, (500, 503), r)
            self.assertTrue("read-only" in r["error"]["message"] or
                            "the history cannot be read" in r["error"]["message"], r)
            self.assertIn("PostgreSQL connection lost", r["error"]["message"] + self.log())
        self.assertIsNone(self.d.proc.poll(), "allotd stopped")
        # changes are accepted again (after the probe's write, when it was read-only), with
        # no restart of allotd
        accepted = None
        deadline = time.time() + 20
        while time.time() < deadline:
            st, r = self.submit("after")
            if st == 201:
                accepted = r
                break
            self.assertIn(st, (500, 503), r)
            self.assertTrue("read-only" in r["error"]["message"] or
                            "the history cannot be read" in r["error"]["message"], r)
            time.sleep(0.2)
        self.assertIsNotNone(accepted, "allotd did not accept changes again")
        acknowledged.append("after")
        self.assertEqual(self.d.request("GET", "/readyz")[0], 200)
        # what was acknowledged is durable, and only that
        self.d.stop()
        self.d = allotd_harness.Daemon(ALLOTD, self.data)
        for name in acknowledged:
            self.assertTrue(self.exists(name), name)
        for name in refused:
            self.assertFalse(self.exists(name), name)

    def test_server_away_for_a_while(self):
        """A server that stays away: the failed commit cannot even be followed by a rebuild
        of the state, so every route that needs a role answers 503 (with Retry-After), health
        still answers, allotd does not exit, and once the server is back it rebuilds its
        state and accepts changes, keeping exactly what it acknowledged."""
        cluster = pgcluster.shared()
        st, r = self.submit("kept")
        self.assertEqual(st, 201, r)
        cluster.ctl("stop")
        try:
            # a submission meets the history's look-up first (503, nothing applied); a
            # cancel is applied in memory and its commit fails: the state is rebuilt from
            # the store, which cannot be read now
            for name in ("gone-1", "gone-2"):
                st, r = self.submit(name)
                self.assertIn(st, (500, 503), r)
            st, r = self.d.request("DELETE", "/v1/workloads/acme/prod/kept", token=self.d.admin)
            self.assertIn(st, (500, 503), r)
            deadline = time.time() + 10
            while time.time() < deadline and "cannot rebuild the state" not in self.log():
                time.sleep(0.2)
            self.assertIn("cannot rebuild the state from the store now", self.log())
            st, r = self.d.request("GET", "/v1/workloads/acme/prod/kept", token=self.d.admin)
            self.assertEqual(st, 503, r)
            self.assertIn("the store cannot be reached", r["error"]["message"])
            self.assertEqual(self.d.request("GET", "/healthz")[0], 200)
            self.assertEqual(self.d.request("GET", "/readyz")[0], 503)
            time.sleep(3)  # several probes meet the absent server
            self.assertIsNone(self.d.proc.poll(), "allotd stopped")
        finally:
            cluster.ctl("start")
        deadline = time.time() + 20
        while time.time() < deadline and self.submit("back")[0] != 201:
            time.sleep(0.2)
        self.assertTrue(self.exists("back"))
        self.assertTrue(self.exists("kept"))
        for name in ("gone-1", "gone-2"):
            self.assertFalse(self.exists(name), name)
        st, r = self.d.request("GET", "/v1/workloads/acme/prod/kept", token=self.d.admin)
        self.assertEqual(r["state"], "running", r)  # the cancel was never acknowledged
        self.assertIn("the state is rebuilt from the store", self.log())
        self.assertEqual(self.d.request("GET", "/readyz")[0], 200)

    def test_password_not_logged(self):
        self.d.stop()
        uri = pgcluster.shared().uri("d_secret") + "&password=hunter2"
        pgcluster.shared().database("d_secret")
        self.d = allotd_harness.Daemon(ALLOTD, self.data, PLATFORM,
                                       ["--store", uri])
        log = self.log()
        self.assertIn("password=***", log)
        self.assertNotIn("hunter2", log)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
