#!/usr/bin/env python3
"""Integration tests of the retention of events and output (issue 12; docs/operations.md,
"Retention"): the real allotd on 127.0.0.1 with virtual nodes and short limits
(--events-keep, --output-keep of seconds, --output-max-per-workspace of KiB). Output is
shipped as a node agent ships it (POST /v1/nodes/{node}/logs, with the admin's token, for a
workload running on that node). Over its cap a workspace loses its oldest attempt, whole, and
another workspace nothing; by age, old events and old output go and newer ones stay; a stream
resumed from an event that is gone gets the gap event; /metrics counts all of it.
Usage: test_retention.py ALLOTD SRCDIR. The daemon is stopped and the directory removed at
the end of each test."""
import os
import shutil
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allotd_harness  # noqa: E402
from test_streams import Stream  # noqa: E402

ALLOTD = sys.argv[1] if len(sys.argv) > 1 else "build/allotd"
SRC = sys.argv[2] if len(sys.argv) > 2 else "."
PLATFORM = os.path.join(SRC, "examples", "platform.yaml")


class RetentionTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="allot-retention-")
        self.data = os.path.join(self.tmp, "data")
        self.d = None

    def tearDown(self):
        if self.d and self.d.proc.poll() is None:
            self.d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, *flags):
        self.d = allotd_harness.Daemon(ALLOTD, self.data, PLATFORM, list(flags))

    def wait_metric(self, name, want, timeout=30):
        deadline = time.time() + timeout  # the retention runs every second
        while time.time() < deadline:
            if (self.d.metric(name) or 0) >= want:
                return
            time.sleep(0.2)
        self.fail(f"{name} below {want} after {timeout} s: {self.d.metric(name)}")

    def running(self, workspace, name):
        """Submit a workload that runs for an hour. RET its full name and its node."""
        self.d.call("POST", "/v1/workloads", {"workspace": workspace, "name": name, "gpus": 1,
                                            "duration": "1h"})
        full = f"{workspace}/{name}"
        deadline = time.time() + 10
        while time.time() < deadline:
            w = self.d.call("GET", f"/v1/workloads/{full}")
            if w["state"] == "running":
                return full, w["placement"][0]["node"]
            time.sleep(0.05)
        self.fail(f"{full} is not running")

    def ship(self, workload, node, data, offset=0):
        """Ship data as stdout of rank 0, attempt 1 of workload, as its node's agent would."""
        st, r = self.d.request(
            "POST", f"/v1/nodes/{node}/logs?workload={workload}&rank=0&attempt=1"
            f"&stream=stdout&offset={offset}", raw=data, token=self.d.admin,
            headers={"Content-Type": "application/octet-stream"})
        self.assertEqual((st, r["end"]), (200, offset + len(data)), r)

    def logs(self, workload):
        """RET its stdout as stored, and the X-Allot-Output-Trimmed header (None: absent)."""
        req = urllib.request.Request(f"{self.d.url}/v1/workloads/{workload}/logs?limit=1048576",
                                     headers={"Authorization": f"Bearer {self.d.admin}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read(), r.headers.get("X-Allot-Output-Trimmed")

    def test_a_workspace_over_its_cap_loses_its_oldest_attempt_and_no_other(self):
        self.start("--output-max-per-workspace", "4Ki")
        self.d.add_tenant_beta()
        # beta/lab's output is the oldest of all, and within its own cap
        other, beta_node = self.running("beta/lab", "other")
        self.ship(other, beta_node, b"b" * 3000)
        first, node1 = self.running("acme/research", "first")
        self.ship(first, node1, b"1" * 3000)
        time.sleep(0.05)  # a later first chunk: the oldest is not a tie
        second, node2 = self.running("acme/research", "second")
        self.ship(second, node2, b"2" * 2000)
        self.ship(second, node2, b"2" * 1000, offset=2000)
        # acme/research holds 6000 bytes over a cap of 4096: its oldest attempt goes, whole
        self.wait_metric("allot_output_trimmed_bytes_total", 3000)
        time.sleep(1.5)  # and nothing more at the next runs
        self.assertEqual(self.d.metric("allot_output_trimmed_bytes_total"), 3000)
        self.assertEqual(self.d.metric("allot_output_trimmed_attempts_total"), 1)
        self.assertEqual(self.logs(first), (b"", "3000"))
        self.assertEqual(self.logs(second), (b"2" * 3000, None))
        self.assertEqual(self.logs(other), (b"b" * 3000, None))
        self.assertEqual(self.d.metric("allot_output_bytes", '{workspace="acme/research"}'), 3000)
        self.assertEqual(self.d.metric("allot_output_bytes", '{workspace="beta/lab"}'), 3000)
        # the trimmed attempt goes on: what comes after is kept, read from where it is
        self.ship(first, node1, b"more", offset=3000)
        self.assertEqual(self.logs(first), (b"more", "3000"))
        # the counts survive a restart (they are in the store, not in the daemon)
        self.d.stop()
        self.start("--output-max-per-workspace", "4Ki")
        self.assertEqual(self.d.metric("allot_output_bytes", '{workspace="acme/research"}'), 3004)
        self.assertEqual(self.logs(second), (b"2" * 3000, None))

    def test_old_events_and_output_go_newer_stay(self):
        self.start("--events-keep", "4s", "--output-keep", "4s")
        old, node = self.running("acme/research", "old")
        self.ship(old, node, b"old output\n")
        old_last = allotd_harness.store_sql(self.data, "SELECT max(seq) FROM events")[0][0]
        self.assertGreater(old_last, 1)
        time.sleep(2)
        new, new_node = self.running("acme/prod", "new")
        new_first = old_last + 1
        self.assertGreater(allotd_harness.store_sql(self.data, "SELECT max(seq) FROM events")[0][0],
                           old_last)
        # 4 s after the first: the old events and output go; the new ones, 2 s younger, stay
        self.wait_metric("allot_events_trimmed_total", old_last)
        self.wait_metric("allot_output_trimmed_bytes_total", len(b"old output\n"))
        self.ship(new, new_node, b"new output\n")
        self.assertEqual(allotd_harness.store_sql(self.data, "SELECT min(seq) FROM events")[0][0],
                         new_first)
        self.assertEqual(self.d.metric("allot_events_trimmed_total"), old_last)
        self.assertEqual(self.logs(old), (b"", str(len(b"old output\n"))))
        self.assertEqual(self.logs(new), (b"new output\n", None))
        age = self.d.metric("allot_events_oldest_age_seconds")
        self.assertTrue(0 < age < 4, age)
        # a stream resumed from a deleted event is told what it missed, then gets the rest
        s = Stream(self.d.port, self.d.admin, last_id=1)
        try:
            self.assertEqual(s.head(), 200)
            events = s.read(idle=0.5, timeout=5)
        finally:
            s.close()
        self.assertEqual(events[0][:2], (None, "gap"))
        self.assertEqual((events[0][2]["last_id"], events[0][2]["next_id"]), (1, new_first))
        self.assertEqual(events[1][0], new_first)
        # a resume from an id that is still stored has no gap
        s = Stream(self.d.port, self.d.admin, last_id=new_first)
        try:
            self.assertEqual(s.head(), 200)
            events = s.read(idle=0.5, timeout=5)
        finally:
            s.close()
        self.assertNotIn("gap", [e[1] for e in events])
        # the workloads themselves are untouched
        self.assertEqual(self.d.call("GET", f"/v1/workloads/{old}")["state"], "running")

    def test_limits_are_checked(self):
        for flags in (("--events-keep", "500ms"), ("--output-keep", "0s"),
                      ("--output-max-per-workspace", "100"), ("--events-keep", "soon")):
            with self.subTest(flags=flags):
                proc = allotd_harness.subprocess.run(
                    [ALLOTD, "--data", self.data] + list(flags), capture_output=True,
                    timeout=10)
                self.assertEqual(proc.returncode, 2)
                self.assertIn(flags[0].encode(), proc.stderr)
        help_text = allotd_harness.subprocess.run([ALLOTD, "--help"], capture_output=True,
                                                  timeout=10).stdout.decode()
        for flag in ("--events-keep", "--output-keep", "--output-max-per-workspace"):
            self.assertIn(flag, help_text)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[3:])
