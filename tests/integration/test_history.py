#!/usr/bin/env python3
"""Integration tests of the history (issue 12, "Retention"; docs/store.md "History"): the real
allotd on 127.0.0.1 with virtual nodes and --keep-finished 1s. Ended workloads leave the
engine for the history table at the next retention tick; they stay queryable by name, in a
paged list of their own (?history=true), for their output, by their idempotency key, and a
restart keeps all of it. Their names stay taken while the history keeps them. A neighbouring
tenant sees none of it, and a user confined to one workspace sees only that workspace's.
Usage: test_history.py ALLOTD SRCDIR. The daemon is stopped and the directory removed at the
end of each test."""
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allotd_harness  # noqa: E402

ALLOTD = sys.argv[1] if len(sys.argv) > 1 else "build/allotd"
SRC = sys.argv[2] if len(sys.argv) > 2 else "."
PLATFORM = os.path.join(SRC, "examples", "platform.yaml")


class HistoryTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="allot-history-")
        self.data = os.path.join(self.tmp, "data")
        self.d = self.start(PLATFORM)

    def tearDown(self):
        if self.d.proc.poll() is None:
            self.d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, platform=None):
        return allotd_harness.Daemon(ALLOTD, self.data, platform,
                                     ["--keep-finished", "1s", "--history", "1h",
                                      "--snapshot-every", "5"])

    def call(self, method, path, body=None, want=(200, 201), token=None):
        st, r = self.d.request(method, path, body, token=token or self.d.admin)
        self.assertIn(st, want, r)
        return r

    def metric(self, name, labels=""):
        st, text = self.d.request("GET", "/metrics", token=self.d.admin)
        text = text if isinstance(text, str) else text.decode()
        m = re.search(rf"^{name}{re.escape(labels)} (\S+)$", text, re.M)
        return float(m.group(1)) if m else None

    def wait_forgotten(self, n):
        deadline = time.time() + 30  # the retention runs every second
        while time.time() < deadline:
            if (self.metric("allot_workloads_forgotten_total") or 0) >= n:
                return
            time.sleep(0.2)
        self.fail(f"fewer than {n} workloads forgotten after 30 s")

    def test_a_rejected_name_is_free_once_in_the_history(self):
        r = self.call("POST", "/v1/workloads", {"name": "too-big", "workspace": "acme/research",
                                                "gpus": 8, "replicas": 3})
        self.assertEqual(r["state"], "rejected")
        self.wait_forgotten(1)
        r = self.call("GET", "/v1/workloads/acme/research/too-big")
        self.assertTrue(r.get("history"), r)  # it left the engine
        r = self.call("POST", "/v1/workloads", {"name": "too-big", "workspace": "acme/research",
                                                "gpus": 1, "duration": "1h"}, want=(201,))
        self.assertEqual(r["state"], "running")
        self.assertEqual(self.call("GET", "/v1/workloads/acme/research/too-big")["gpus"], 1)

    def test_ended_workloads_move_to_the_history(self):
        self.d.add_tenant_beta()
        beta = self.d.user_token("beta-member", "member", tenant="beta")
        done = self.call("POST", "/v1/workloads",
                         {"workspace": "acme/research", "name": "done-1", "gpus": 2,
                          "duration": "50ms", "idempotency_key": "k1"})
        self.call("POST", "/v1/workloads", {"workspace": "acme/prod", "name": "done-2",
                                            "gpus": 1, "duration": "50ms"})
        self.call("POST", "/v1/workloads", {"workspace": "acme/research", "name": "stays",
                                            "gpus": 1, "duration": "1h"})
        self.wait_forgotten(2)
        # out of the engine: its live list and its counts
        names = [w["name"] for w in self.call("GET", "/v1/workloads")["items"]]
        self.assertEqual(names, ["acme/research/stays"])
        self.assertEqual(self.metric("allot_workloads", '{tenant="acme",state="finished"}'), 0)
        # in the history: by name, as it was when it ended
        w = self.call("GET", "/v1/workloads/acme/research/done-1")
        self.assertEqual((w["state"], w["history"], w["attempts"], w["gpus"]),
                         ("finished", True, 1, 2))
        self.assertEqual(w["submitted"], done["submitted"])
        why = self.call("GET", "/v1/workloads/acme/research/done-1/why")
        self.assertEqual((why["state"], why["history"]), ("finished", True))
        st, out = self.d.request("GET", "/v1/workloads/acme/research/done-1/logs",
                                 token=self.d.admin)
        self.assertEqual(st, 200)
        # its list, in pages
        page = self.call("GET", "/v1/workloads?history=true&limit=1")
        self.assertEqual([x["name"] for x in page["items"]], ["acme/research/done-1"])
        rest = self.call("GET", f"/v1/workloads?history=true&after={page['next']}")
        self.assertEqual([x["name"] for x in rest["items"]], ["acme/prod/done-2"])
        self.assertNotIn("next", rest)
        self.call("GET", "/v1/workloads?history=maybe", want=(400,))
        # its idempotency key still answers with it; its name stays taken
        again = self.call("POST", "/v1/workloads",
                          {"workspace": "acme/research", "name": "other", "gpus": 1,
                           "idempotency_key": "k1"}, want=(200,))
        self.assertEqual(again["name"], "acme/research/done-1")
        st, r = self.d.request("POST", "/v1/workloads",
                               {"workspace": "acme/research", "name": "done-1", "gpus": 1},
                               token=self.d.admin)
        self.assertEqual((st, r["error"]["field"]), (409, "name"))
        self.assertIn("history", r["error"]["message"])
        st, r = self.d.request("DELETE", "/v1/workloads/acme/research/done-1",
                               token=self.d.admin)
        self.assertEqual(st, 409, r)
        # a neighbouring tenant sees none of it; a user of one workspace sees that one only
        for path in ("/v1/workloads/acme/research/done-1",
                     "/v1/workloads/acme/research/done-1/logs",
                     "/v1/workloads/acme/research/done-1/why"):
            self.assertEqual(self.d.request("GET", path, token=beta)[0], 404, path)
        self.assertEqual(self.call("GET", "/v1/workloads?history=true", token=beta)["items"], [])
        st, r = self.d.request("POST", "/v1/workloads",
                               {"workspace": "beta/lab", "name": "probe", "gpus": 1,
                                "idempotency_key": "k1"}, token=beta)
        self.assertEqual((st, r.get("name")), (201, "beta/lab/probe"))  # its own key
        prod = self.d.user_token("prod-viewer", "viewer", tenant="acme", workspace="acme/prod")
        mine = self.call("GET", "/v1/workloads?history=true", token=prod)["items"]
        self.assertEqual([x["name"] for x in mine], ["acme/prod/done-2"])
        self.assertEqual(self.d.request("GET", "/v1/workloads/acme/research/done-1",
                                        token=prod)[0], 404)
        # a restart (a crash, then a clean stop) keeps the history and leaves it out of the
        # engine: the journal's forget ops replay to the same state
        before = (self.call("GET", "/v1/workloads")["items"],
                  self.call("GET", "/v1/workloads?history=true")["items"])
        for sig in (signal.SIGKILL, signal.SIGINT):
            self.d.stop(sig)
            self.d = self.start()
            self.assertEqual((self.call("GET", "/v1/workloads")["items"],
                              self.call("GET", "/v1/workloads?history=true")["items"]), before)
        self.assertEqual(self.call("GET", "/v1/workloads/acme/prod/done-2")["history"], True)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[3:])
