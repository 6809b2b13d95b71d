#!/usr/bin/env python3
"""Integration tests of checkpoints and min_runtime (issue 15, docs/policy.md "Lost work" and
"Minimum runtime"): POST .../checkpoint by a member of the workload's workspace sets its
last_checkpoint (journal op checkpoint, the same after a journal replay); a neighbouring
tenant gets 404, a viewer 403, work that does not run 409; a workspace's min_runtime is read,
shown, checked field by field and kept across a restart. The real allotd on 127.0.0.1 with
virtual nodes and a temporary data directory. Usage: test_checkpoint.py ALLOTD SRCDIR. The
daemon is stopped and the directory removed at the end of each test."""
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allotd_harness  # noqa: E402

ALLOTD = sys.argv[1] if len(sys.argv) > 1 else "build/allotd"
SRC = sys.argv[2] if len(sys.argv) > 2 else "."
PLATFORM = os.path.join(SRC, "examples", "platform.yaml")
ALLOT = os.path.join(os.path.dirname(os.path.abspath(ALLOTD)), "allot")


class CheckpointTest(allotd_harness.DaemonCase):
    ALLOTD = ALLOTD
    PREFIX = "allot-checkpoint-"
    PLATFORM = PLATFORM

    def checkpoint(self, name, token):
        return self.d.request("POST", f"/v1/workloads/{name}/checkpoint", token=token)

    def test_checkpoint_route(self):
        """A member's checkpoint of running work is kept (and survives a journal replay); a
        neighbouring tenant cannot reach it, a viewer may not, pending work refuses it."""
        self.d.add_tenant_beta()
        self.d.call("POST", "/v1/workloads", {"workspace": "acme/research", "name": "w",
                                              "gpus": 8})
        for name in ("x", "big"):  # x fills the tenant's 16 GPUs: big waits
            self.d.call("POST", "/v1/workloads", {"workspace": "acme/research", "name": name,
                                                  "gpus": 8})
        w = self.d.call("GET", "/v1/workloads/acme/research/w")
        self.assertEqual(w["state"], "running")
        self.assertIsNone(w["last_checkpoint"])
        member = self.d.user_token("ann", "member", tenant="acme", workspace="acme/research")
        viewer = self.d.user_token("vic", "viewer", tenant="acme")
        other = self.d.user_token("bob", "tenant-admin", tenant="beta")
        before = int(time.time() * 1000)
        st, r = self.checkpoint("acme/research/w", member)
        self.assertEqual(st, 200, r)
        self.assertGreaterEqual(r["last_checkpoint"], w["started"])
        self.assertGreaterEqual(r["last_checkpoint"], before - 1000)
        self.assertLessEqual(r["last_checkpoint"], int(time.time() * 1000) + 1000)
        saved = r["last_checkpoint"]
        # another tenant: as if it did not exist; nothing changes
        st, r = self.checkpoint("acme/research/w", other)
        self.assertEqual(st, 404, r)
        st, r = self.checkpoint("acme/research/nope", member)
        self.assertEqual(st, 404, r)
        st, r = self.checkpoint("acme/research/w", viewer)
        self.assertEqual(st, 403, r)
        st, r = self.checkpoint("acme/research/big", member)  # pending: it has no work
        self.assertEqual(st, 409, r)
        self.assertEqual(self.d.call("GET", "/v1/workloads/acme/research/w")["last_checkpoint"],
                         saved)
        self.restart(signal.SIGKILL)  # the journal is replayed
        self.assertEqual(self.d.call("GET", "/v1/workloads/acme/research/w")["last_checkpoint"],
                         saved)
        # the CLI's allot checkpoint: the same route
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALLOT_")}
        env.update(HOME=self.tmp, ALLOT_SERVER=self.d.url, ALLOT_TOKEN=self.d.admin)
        time.sleep(0.01)
        p = subprocess.run([ALLOT, "checkpoint", "acme/research/w"], env=env,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("checkpoint recorded", p.stdout)
        self.assertGreater(
            self.d.call("GET", "/v1/workloads/acme/research/w")["last_checkpoint"], saved)
        p = subprocess.run([ALLOT, "checkpoint", "acme/research/big"], env=env,
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(p.returncode, 0)

    def test_min_runtime(self):
        """min_runtime: one duration or per kind; a bad one is refused naming its field and
        changes nothing; kept after a restart."""
        ws = "/v1/workspaces/acme/research"
        r = self.d.call("PATCH", ws, {"min_runtime": "30m"})
        self.assertEqual(r["min_runtime"]["training"], "30m")
        self.assertEqual(r["min_runtime"]["experiment"], "30m")
        r = self.d.call("PATCH", ws, {"min_runtime": {"training": "2h", "inference": "10m"}})
        self.assertEqual(r["min_runtime"], {"training": "2h", "finetune": "0s",
                                            "inference": "10m", "experiment": "0s"})
        for bad, field in (({"trainin": "1h"}, "min_runtime"), ({"training": "31d"},
                                                                "min_runtime.training"),
                           ("-1m", "min_runtime"), ("soon", "min_runtime")):
            st, r = self.d.request("PATCH", ws, {"min_runtime": bad}, token=self.d.admin)
            self.assertEqual(st, 400, (bad, r))
            self.assertTrue(r["error"].get("field", "").startswith(field), (bad, r))
        self.restart(signal.SIGKILL)
        r = self.d.call("GET", ws)
        self.assertEqual(r["min_runtime"]["training"], "2h")
        self.assertEqual(r["min_runtime"]["inference"], "10m")


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
