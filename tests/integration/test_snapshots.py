#!/usr/bin/env python3
"""Integration tests of snapshots (issue 12, docs/store.md "Snapshots"): the real allotd on
127.0.0.1 with virtual nodes and a snapshot every few ops. A history of submissions (gangs,
short ones that finish, long ones that run or wait, cancels, a reclaim, a drained node, a
workspace change, idempotency keys) is made; the daemon restarts from its snapshot alone (a
clean stop writes one), from a snapshot and the journal after it (kill -9 with ops since the
last), and from the older snapshot when the newest is damaged; each time every workload,
workspace and node, and the counters a replay rebuilds, are what they were before. The journal
stays bounded (entries are trimmed behind snapshots), and a store whose journal was trimmed
with no snapshot left that loads refuses to start, saying why. Usage: test_snapshots.py ALLOTD
SRCDIR. The daemon is stopped and the directory removed at the end of each test."""
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
# counters that the journal's replay rebuilds, so a snapshot must carry them
REBUILT = re.compile(r"^(allot_preemptions_total|allot_rejections_total|"
                     r"allot_admission_wait_seconds_bucket)\S* \S+$", re.M)


class SnapshotTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="allot-snapshots-")
        self.data = os.path.join(self.tmp, "data")
        self.d = self.start(PLATFORM)

    def tearDown(self):
        if self.d and self.d.proc.poll() is None:
            self.d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, platform=None, every="10"):
        return allotd_harness.Daemon(ALLOTD, self.data, platform, ["--snapshot-every", every])

    def call(self, method, path, body=None, want=(200, 201)):
        st, r = self.d.request(method, path, body, token=self.d.admin)
        self.assertIn(st, want, r)
        return r

    def metrics(self):
        st, text = self.d.request("GET", "/metrics", token=self.d.admin)
        self.assertEqual(st, 200)
        return text if isinstance(text, str) else text.decode()

    def metric(self, name):
        m = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", self.metrics(), re.M)
        return float(m.group(1)) if m else None

    def state(self):
        """Everything a replay rebuilds, as the API shows it."""
        return {
            "workloads": self.call("GET", "/v1/workloads?limit=1000")["items"],
            "workspaces": self.call("GET", "/v1/workspaces"),
            "nodes": self.call("GET", "/v1/nodes"),
            "counters": sorted(m.group(0) for m in REBUILT.finditer(self.metrics())),
        }

    def log(self):
        with open(self.data + ".log") as f:
            return f.read()

    def history(self, tag, n=12):
        """Submissions of every kind; the short ones finish on the virtual nodes."""
        for i in range(n):
            self.call("POST", "/v1/workloads",
                      {"workspace": "acme/research", "name": f"{tag}-short-{i}", "gpus": 1 + i % 3,
                       "duration": "50ms", "idempotency_key": f"{tag}-k{i}"})
        self.call("POST", "/v1/workloads", {"workspace": "acme/research", "name": f"{tag}-gang",
                                            "gpus": 4, "replicas": 2, "duration": "1h"})
        for i in range(3):
            self.call("POST", "/v1/workloads",
                      {"workspace": "acme/research", "name": f"{tag}-long-{i}", "gpus": 2,
                       "kind": "experiment", "duration": "1h", "grace": "1h"})
        w = self.call("POST", "/v1/workloads", {"workspace": "acme/research",
                                                "name": f"{tag}-gone", "gpus": 1,
                                                "duration": "1h"})
        self.call("DELETE", f"/v1/workloads/{w['name']}")
        # prod's reservation reclaims borrowed GPUs: victims drain for their hour of grace
        self.call("POST", "/v1/workloads", {"workspace": "acme/prod", "name": f"{tag}-serve",
                                            "gpus": 4, "kind": "inference", "duration": "1h"})
        self.call("POST", "/v1/workloads", {"workspace": "acme/research", "name": f"{tag}-wait",
                                            "gpus": 8, "duration": "1h"})
        time.sleep(0.5)  # the short ones end

    def test_restart_from_snapshots_gives_the_same_state(self):
        self.history("a")
        self.call("PATCH", "/v1/workspaces/acme/research", {"weight": 3})
        before = self.state()
        self.assertGreater(self.metric("allot_snapshots_total"), 0)
        self.assertGreater(self.metric("allot_journal_trimmed_total"), 0)
        # a clean stop writes a snapshot of everything: the restart replays nothing
        self.d.stop(signal.SIGINT)
        self.d = self.start()
        self.assertEqual(self.state(), before)
        log = self.log()
        self.assertIn("replaying the 0 entries after it", log)
        # ops after the last snapshot, then a crash: snapshot + the journal after it
        self.history("b", n=3)
        since = self.metric("allot_journal_since_snapshot")
        self.assertGreater(since, 0)
        before = self.state()
        self.d.stop(signal.SIGKILL)
        self.d = self.start()
        self.assertEqual(self.state(), before)
        self.assertRegex(self.log(),
                         r"started from the snapshot of journal entry \d+ \(\d+ bytes\); "
                         r"replaying the [1-9]\d* entries after it")
        # the snapshot figures are the platform admin's: a tenant's user does not see them
        viewer = self.d.user_token("viewer", "viewer", tenant="acme")
        st, text = self.d.request("GET", "/metrics", token=viewer)
        self.assertEqual(st, 200)
        text = text if isinstance(text, str) else text.decode()
        self.assertIn("allot_workloads{", text)
        self.assertNotIn("allot_snapshot", text)
        self.assertNotIn("allot_journal", text)
        # an idempotency key still names its workload after the restarts
        again = self.call("POST", "/v1/workloads",
                          {"workspace": "acme/research", "name": "other", "gpus": 1,
                           "idempotency_key": "a-k3"})
        self.assertEqual(again["name"], "acme/research/a-short-3")

    def test_journal_is_bounded_by_snapshots(self):
        for round_ in range(4):
            self.history(f"r{round_}", n=6)
        sql = allotd_harness.store_sql
        (kept, last), = sql(self.data, "SELECT count(*), max(seq) FROM journal")
        snaps = sql(self.data, "SELECT seq FROM snapshots ORDER BY seq")
        (total,), = sql(self.data, "SELECT last FROM counters WHERE name = 'journal'"
                        if allotd_harness.STORE == "postgresql" else
                        "SELECT seq FROM sqlite_sequence WHERE name = 'journal'")
        self.assertEqual(len(snaps), 2)  # the newest and one to fall back on
        self.assertGreater(total, 60)
        # what is kept is the journal after the older snapshot, no more: at most two
        # snapshots' worth of ops, a snapshot being taken after max(--snapshot-every, twice
        # the workloads in the engine) ops (and the commit that crossed it)
        self.assertEqual(kept, total - snaps[0][0])
        in_engine = len(self.call("GET", "/v1/workloads?limit=1000")["items"])
        self.assertLess(kept, total)
        self.assertLessEqual(kept, 2 * max(10, 2 * in_engine) + 2 * 40)

    def damage(self, which):
        """Overwrite the engine part of snapshot which (0: the newest) with bytes of nothing."""
        sql = allotd_harness.store_sql
        (seq,), = sql(self.data, "SELECT seq FROM snapshots ORDER BY seq DESC LIMIT 1 OFFSET "
                      f"{int(which)}")
        blob = ("'\\x414c4c4f54454e470900'::bytea" if allotd_harness.STORE == "postgresql"
                else "x'414c4c4f54454e470900'")
        sql(self.data, f"UPDATE snapshots SET engine = {blob} WHERE seq = {int(seq)}")
        return seq

    def test_damaged_snapshot_falls_back_then_refuses(self):
        self.history("a")
        self.history("b", n=4)
        before = self.state()
        self.d.stop(signal.SIGKILL)
        newest = self.damage(0)
        self.d = self.start()
        self.assertEqual(self.state(), before)
        log = self.log()
        self.assertIn(f"the snapshot of journal entry {newest} is not used", log)
        self.assertIn("a snapshot of version 9", log)
        # both damaged, the journal before them gone: no start, and the log says why
        self.d.stop(signal.SIGKILL)
        self.damage(0)
        self.damage(1)
        with self.assertRaises(RuntimeError):
            self.d = None
            self.d = self.start()
        log = self.log()
        self.assertRegex(log, r"the journal was trimmed through entry \d+ and no snapshot that "
                              r"covers it loads")


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[3:])
