#!/usr/bin/env python3
"""Integration tests of the `allot` client subcommands: the real allotd on 127.0.0.1 with a
temporary data directory, driven by the real `allot` binary with ALLOT_SERVER/ALLOT_TOKEN.
Checks outputs and the exit codes scripts rely on (0 ok, 1 refused, 2 usage, 3 unreachable).
Usage: test_cli_client.py ALLOT ALLOTD SRCDIR"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allotd_harness  # noqa: E402

ALLOT = sys.argv[1] if len(sys.argv) > 1 else "build/allot"
ALLOTD = sys.argv[2] if len(sys.argv) > 2 else "build/allotd"
SRC = sys.argv[3] if len(sys.argv) > 3 else "."
PLATFORM = os.path.join(SRC, "examples", "platform.yaml")


class Daemon(allotd_harness.Daemon):
    """allotd under test, with the demo platform unless told otherwise."""

    def __init__(self, data, platform=PLATFORM, extra=()):
        super().__init__(ALLOTD, data, platform, extra)


free_port = allotd_harness.free_port


class CliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="allot-cli-it-")
        self.home = os.path.join(self.tmp, "home")
        os.mkdir(self.home)
        self.d = Daemon(os.path.join(self.tmp, "data"))

    def tearDown(self):
        if self.d.proc.poll() is None:
            self.d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def env(self, token=None, server=None, env=None):
        """A clean environment for allot: HOME in the temporary directory (so that no config
        file of the machine is read), ALLOT_SERVER and ALLOT_TOKEN (the admin's) set."""
        e = {k: v for k, v in os.environ.items()
             if not k.startswith("ALLOT_") and k != "XDG_CONFIG_HOME"}
        e["HOME"] = self.home
        e["ALLOT_SERVER"] = server if server is not None else self.d.url
        e["ALLOT_TOKEN"] = token if token is not None else self.d.admin
        e.update(env or {})
        return {k: v for k, v in e.items() if v is not None}

    def allot(self, *args, token=None, server=None, env=None, stdin=None):
        """Run allot in a clean environment (self.env). RET (exit code, stdout, stderr)."""
        p = subprocess.run([ALLOT, *args], env=self.env(token, server, env), input=stdin,
                           capture_output=True, text=True, timeout=30)
        return p.returncode, p.stdout, p.stderr

    def watch(self, *args, token=None, server=None, env=None):
        """Start `allot ls --watch ARGS` and wait until it has printed the list: it subscribes
        to the events before it reads the list, so from then on no event is missed.
        RET (the process, the first line it printed)."""
        p = subprocess.Popen([ALLOT, "ls", "--watch", *args], env=self.env(token, server, env),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        return p, p.stdout.readline()

    def finish(self, p, timeout=15):
        """Wait for a watch to end. RET (exit code, rest of stdout, stderr)."""
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out, err

    def ok(self, *args, **kw):
        rc, out, err = self.allot(*args, **kw)
        self.assertEqual(rc, 0, f"allot {' '.join(args)}: {err}")
        return out

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    # ---- workloads ----

    def test_admin_user_create_set_delete(self):
        out = self.ok("admin", "user", "create", "alice", "--role", "member", "--workspace",
                      "acme/research")
        self.assertIn("created user alice: member of tenant acme, workspace acme/research", out)
        # creating again never changes the user
        rc, out, err = self.allot("admin", "user", "create", "alice", "--role", "viewer",
                                  "--tenant", "acme")
        self.assertEqual(rc, 1, err)
        self.assertIn("exist", err)
        out = self.ok("admin", "user", "set", "alice", "--role", "workspace-admin")
        self.assertIn("alice is now workspace-admin of tenant acme, workspace acme/research", out)
        out = self.ok("admin", "user", "set", "alice", "--whole-tenant")
        self.assertIn("alice is now workspace-admin of tenant acme\n", out)
        st, r = self.d.request("GET", "/v1/users", token=self.d.admin)
        alice = [u for u in r["items"] if u["name"] == "alice"][0]
        self.assertEqual((alice["role"], alice["workspace"]), ("workspace-admin", None))
        self.assertEqual(self.allot("admin", "user", "set", "alice")[0], 2)
        self.assertIn("deleted user alice", self.ok("admin", "user", "delete", "alice"))
        rc, out, err = self.allot("admin", "user", "delete", "alice")
        self.assertEqual(rc, 1, err)
        # the last admin stays
        rc, out, err = self.allot("admin", "user", "delete", "admin")
        self.assertEqual(rc, 1, err)
        self.assertIn("last platform admin", err)

    def test_admin_user_and_token_list(self):
        """Users and tokens as each admin may see them: a tenant admin its own tenant's, never
        another's; lower roles 403; never a token's secret or hash."""
        self.d.add_tenant_beta()
        acme_admin = self.d.user_token("acme-boss", "tenant-admin", "acme")
        beta_admin = self.d.user_token("beta-boss", "tenant-admin", "beta")
        member = self.d.user_token("alice", "member", "acme", "acme/research")
        self.d.user_token("bob", "viewer", "beta")
        st, node = self.d.request("POST", "/v1/tokens", {"node": "gpu-a"}, token=self.d.admin)
        self.assertEqual(st, 201, node)
        # the platform admin: everyone, every token; a table, and -o json as the daemon says
        out = self.ok("admin", "user", "list")
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "TENANT", "ROLE", "WORKSPACE"])
        self.assertRegex(out, r"\nalice +acme +member +acme/research\n")
        self.assertRegex(out, r"\nbeta-boss +beta +tenant-admin +-\n")
        self.assertRegex(out, r"\nadmin +- +admin +-\n")
        doc = json.loads(self.ok("admin", "user", "list", "-o", "json"))
        self.assertEqual({u["name"] for u in doc["items"]},
                         {"admin", "acme-boss", "beta-boss", "alice", "bob"})
        doc = json.loads(self.ok("admin", "token", "list", "-o", "json"))
        self.assertEqual(sorted((t["kind"], t["user"] or t["node"]) for t in doc["items"]),
                         [("node", "gpu-a"), ("user", "acme-boss"), ("user", "admin"),
                          ("user", "alice"), ("user", "beta-boss"), ("user", "bob")])
        for t in doc["items"]:
            self.assertEqual(set(t), {"id", "kind", "user", "node", "created", "expires",
                                      "last_used"})
            self.assertRegex(t["id"], r"^[0-9a-f]{16}$")
            self.assertGreater(t["created"], 0)
        # last used: the admin's token (this very request), not the node's (never presented)
        used = {t["user"] or t["node"]: t["last_used"] for t in doc["items"]}
        self.assertIsNone(used["gpu-a"])
        self.assertIsNone(used["bob"])
        self.assertGreater(used["admin"], used["alice"] or 0)
        self.assertGreaterEqual(used["admin"], max(t["created"] for t in doc["items"]))
        out = self.ok("admin", "token", "list")
        self.assertEqual(out.splitlines()[0].split(),
                         ["ID", "KIND", "FOR", "CREATED", "EXPIRES", "LAST", "USED"])
        self.assertRegex(out, rf"\n{node['id']} +node +node gpu-a +20\d\d-\d\d-\d\d "
                              r"\d\d:\d\d:\d\d UTC +never +-\n")
        # no secret, and not its hash, in either form
        for text in (out, self.ok("admin", "token", "list", "-o", "json")):
            for secret in (acme_admin, beta_admin, member, node["token"]):
                self.assertNotIn(secret.split("_")[2], text)
            self.assertNotIn("hash", text)
        # a tenant admin: its tenant's users and their tokens only
        doc = json.loads(self.ok("admin", "user", "list", "-o", "json", token=acme_admin))
        self.assertEqual({u["name"] for u in doc["items"]}, {"acme-boss", "alice"})
        doc = json.loads(self.ok("admin", "token", "list", "-o", "json", token=acme_admin))
        self.assertEqual(sorted(t["user"] for t in doc["items"]), ["acme-boss", "alice"])
        # the neighbouring tenant's admin sees nothing of acme's
        for path in ("/v1/users", "/v1/tokens"):
            st, r = self.d.request("GET", path, token=beta_admin)
            self.assertEqual(st, 200, r)
            names = {x.get("name") or x.get("user") for x in r["items"]}
            self.assertEqual(names, {"beta-boss", "bob"}, path)
            self.assertNotIn("acme", json.dumps(r), path)
        out = self.ok("admin", "token", "list", token=beta_admin)
        self.assertNotIn("alice", out)
        self.assertNotIn("acme-boss", out)
        # lower roles: 403, exit 1
        for path in ("/v1/users", "/v1/tokens"):
            st, r = self.d.request("GET", path, token=member)
            self.assertEqual(st, 403, (path, r))
        for what in ("user", "token"):
            rc, out, err = self.allot("admin", what, "list", token=member)
            self.assertEqual(rc, 1, err)
            self.assertEqual(out, "")
        # a revoked token leaves the list
        self.ok("admin", "token", "revoke", node["id"])
        doc = json.loads(self.ok("admin", "token", "list", "-o", "json"))
        self.assertNotIn(node["id"], [t["id"] for t in doc["items"]])

    def test_admin_export_replays_in_sim(self):
        self.ok("submit", "-w", "acme/research", "--name", "a", "--gpus", "2",
                "--duration", "300ms")
        # b runs long enough that `never`, submitted next, surely finds it running even on a
        # loaded machine (each allot is a process of its own)
        self.ok("submit", "-w", "acme/prod", "--name", "b", "--gpus", "4", "--duration", "2s")
        # over prod's limit while b runs: it waits, and is cancelled before it ever runs
        self.assertEqual(self.allot("submit", "-w", "acme/prod", "--name", "never",
                                    "--gpus", "8")[0], 0)
        self.ok("cancel", "acme/prod/never")
        deadline = time.time() + 10
        while time.time() < deadline:
            st, w = self.d.request("GET", "/v1/workloads/acme/prod/b", token=self.d.admin)
            if w["state"] == "finished":
                break
            time.sleep(0.05)
        self.assertEqual(w["state"], "finished")
        self.assertGreaterEqual(w["ended"] - w["started"], 1990)  # its 2 s, to a timer tick
        path = os.path.join(self.tmp, "history.yaml")
        self.ok("admin", "export", "--output", path)
        with open(path) as f:
            text = f.read()
        self.assertIn('"reserved":{"gpu":"4"}', text)  # the platform as it is
        self.assertIn("1 that\n# never ran are left out", text)
        # the exported history is a scenario: allot sim replays it, invariants checked
        r = subprocess.run([ALLOT, "sim", "--check", "--json", path], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        events = [json.loads(line) for line in r.stdout.splitlines()]
        finished = {e["workload"] for e in events if e.get("event") == "finished"}
        self.assertEqual(finished, {"a", "b"})
        # what-if: the same history on a changed platform is still a valid scenario
        with open(path + ".after", "w") as f:
            f.write(text.replace('"reserved":{"gpu":"4"}', '"reserved":{"gpu":"8"}'))
        r = subprocess.run([ALLOT, "sim", "--check", "--quiet", path + ".after"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.allot("admin", "export", "--since", "soon")[0], 2)

    def test_admin_export_carries_node_history(self):
        """A node drained (and undrained, and drained again) after a workload ran on it is
        exported ready, with its changes in the timeline at their offsets: the replay runs the
        workload as it ran, and preempts nothing."""
        def wait_finished(name):
            deadline = time.time() + 10
            while time.time() < deadline:
                w = self.d.request("GET", f"/v1/workloads/{name}", token=self.d.admin)[1]
                if w["state"] == "finished":
                    return w
                time.sleep(0.05)
            self.fail(f"{name} is {w['state']}")

        # both nodes' 16 GPUs: it runs on gpu-a too
        self.ok("submit", "-w", "acme/research", "--name", "wide", "--gpus", "8", "--replicas",
                "2", "--duration", "300ms")
        wide = wait_finished("acme/research/wide")
        st, r = self.d.request("GET", "/v1/events?format=json&event=admitted",
                               token=self.d.admin)
        self.assertIn("gpu-a", [p["node"] for p in r["items"][0]["placement"]])
        for verb in ("drain", "undrain", "drain"):
            self.ok("admin", "node", verb, "gpu-a")
            time.sleep(0.02)
        self.ok("submit", "-w", "acme/research", "--name", "after", "--gpus", "1",
                "--duration", "200ms")
        wait_finished("acme/research/after")
        path = os.path.join(self.tmp, "history.yaml")
        self.ok("admin", "export", "--output", path)
        with open(path) as f:
            text = f.read()
        sections, key = {}, None
        for line in text.splitlines():
            if line.endswith(":") and not line.startswith(" "):
                key = line[:-1]
                sections[key] = []
            elif line.startswith("  - "):
                sections[key].append(json.loads(line[4:]))
        self.assertIn("2 submissions", text)
        self.assertIn("3 node and GPU changes", text)
        self.assertIn("--events-keep", text)
        gpu_a = [n for n in sections["nodes"] if n["name"] == "gpu-a"][0]
        self.assertNotIn("state", gpu_a)  # ready, as it was when wide ran
        # the drain, undrain and drain at their offsets from the first submission
        st, r = self.d.request("GET", "/v1/events?format=json&event=node_state",
                               token=self.d.admin)
        self.assertEqual([e["state"] for e in r["items"]], ["draining", "ready", "draining"])
        want = [{"at": f"{round(e['t'] * 1000) - wide['submitted']}ms",
                 "node": {"name": "gpu-a", "state": e["state"]}} for e in r["items"]]
        self.assertEqual([s for s in sections["timeline"] if "node" in s], want)
        self.assertEqual(sections["timeline"][0]["at"], "0ms")
        self.assertEqual([s["submit"]["name"] for s in sections["timeline"] if "submit" in s],
                         ["wide", "after"])
        r = subprocess.run([ALLOT, "sim", "--check", "--json", path], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        events = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual([e for e in events if e.get("event") == "preempting"], [])
        self.assertEqual({e["workload"] for e in events if e.get("event") == "finished"},
                         {"wide", "after"})
        admitted = [e for e in events if e.get("event") == "admitted"]
        self.assertEqual([e["workload"] for e in admitted], ["wide", "after"])
        # with --since, a window after wide: gpu-a starts ready, the changes in the window
        self.assertEqual(self.allot("admin", "export", "--since", "1h")[0], 0)

    def test_admin_export_carries_gpu_health(self):
        """A GPU that went unhealthy and healthy again within --since is exported healthy,
        with both changes as gpu: steps at their offsets from the first item."""
        self.d.stop()
        self.d = Daemon(os.path.join(self.tmp, "data2"), extra=["--no-virtual-nodes"])
        st, r = self.d.request("POST", "/v1/tokens", {"node": "gpu-a"}, token=self.d.admin)
        self.assertEqual(st, 201, r)
        node = r["token"]
        for sick in (None, 3, None):
            gpus = [{"index": i, "uuid": f"GPU-a-{i}", "healthy": i != sick} for i in range(8)]
            st, r = self.d.request("POST", "/v1/nodes/gpu-a/report",
                                   {"inventory": {"discovered": False, "gpus": gpus},
                                    "workloads": []}, token=node)
            self.assertEqual(st, 200, r)
            time.sleep(0.02)
        path = os.path.join(self.tmp, "history.yaml")
        self.ok("admin", "export", "--since", "1h", "--output", path)
        with open(path) as f:
            lines = f.read().splitlines()
        nodes = [json.loads(x[4:]) for x in lines[lines.index("nodes:") + 1:
                                                    lines.index("timeline:")]]
        timeline = [json.loads(x[4:]) for x in lines[lines.index("timeline:") + 1:]]
        gpu_a = [n for n in nodes if n["name"] == "gpu-a"][0]
        self.assertEqual(gpu_a["gpus"], [{"model": "H100-80GB", "count": 8}])  # all healthy
        st, r = self.d.request("GET", "/v1/events?format=json&event=gpu_health",
                               token=self.d.admin)
        self.assertEqual([e["healthy"] for e in r["items"]], [False, True])
        t0 = round(r["items"][0]["t"] * 1000)
        self.assertEqual(timeline,
                         [{"at": f"{round(e['t'] * 1000) - t0}ms",
                           "gpu": {"node": "gpu-a", "index": 3, "healthy": e["healthy"]}}
                          for e in r["items"]])
        r = subprocess.run([ALLOT, "sim", "--check", "--json", path], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        events = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual([e["healthy"] for e in events if e.get("event") == "gpu_health"],
                         [False, True])

    def test_admin_export_keeps_images(self):
        """The exported scenario carries require_image and the workloads' images, so that
        its replay takes them as the controller did (none is rejected image_required)."""
        st, r = self.d.request("PATCH", "/v1/workspaces/acme/prod", {"require_image": True},
                               token=self.d.admin)
        self.assertEqual(st, 200, r)
        st, r = self.d.request("POST", "/v1/workloads",
                               {"name": "boxed", "workspace": "acme/prod", "gpus": 1,
                                "image": "busybox:1.36", "workdir": "/w", "duration": "1h"},
                               token=self.d.admin)
        self.assertEqual((st, r["state"]), (201, "running"), r)
        path = os.path.join(self.tmp, "history.yaml")
        self.ok("admin", "export", "--output", path)
        with open(path) as f:
            text = f.read()
        self.assertIn('"require_image":true', text)
        self.assertIn('"image":"busybox:1.36"', text)
        self.assertNotIn("workdir", text)  # the daemon's only: a scenario refuses it
        r = subprocess.run([ALLOT, "sim", "--check", "--json", path], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        events = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertIn(("admitted", "boxed"),
                      [(e.get("event"), e.get("workload")) for e in events])
        self.assertNotIn("rejected", [e.get("event") for e in events])

    def ship(self, node, token, name, data, offset, stream="stdout"):
        """Ship output as a node agent does. RET the controller's answer."""
        req = urllib.request.Request(
            f"{self.d.url}/v1/nodes/{node}/logs?workload={name}&rank=0&attempt=1"
            f"&stream={stream}&offset={offset}", data=data, method="POST",
            headers={"Authorization": f"Bearer {token}",
                     "Content-Type": "application/octet-stream"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def test_logs(self):
        out = self.ok("submit", "-w", "acme/research", "--name", "talk", "--gpus", "1",
                      "--grace", "1s", "-o", "json", "--", "python", "train.py")
        node = json.loads(out)["placement"][0]["node"]
        st, r = self.d.request("POST", "/v1/tokens", {"node": node}, token=self.d.admin)
        token = r["token"]
        self.assertEqual(self.ship(node, token, "acme/research/talk", b"epoch 1\n", 0),
                         {"end": 8})
        # a resend of what the controller has is skipped; a gap is not taken
        self.assertEqual(self.ship(node, token, "acme/research/talk", b"epoch 1\n", 0),
                         {"end": 8})
        self.assertEqual(self.ship(node, token, "acme/research/talk", b"lost", 100), {"end": 8})
        self.ship(node, token, "acme/research/talk", b"warning\n", 0, "stderr")
        self.assertEqual(self.ok("logs", "acme/research/talk"), "epoch 1\n")
        self.assertEqual(self.ok("logs", "acme/research/talk", "--stderr"), "warning\n")
        # -f prints what comes while it runs, and ends once the workload is over
        p = subprocess.Popen([ALLOT, "logs", "-f", "acme/research/talk"], env=self.env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        self.assertEqual(p.stdout.readline(), "epoch 1\n")
        self.ship(node, token, "acme/research/talk", b"epoch 2\n", 8)
        self.assertEqual(p.stdout.readline(), "epoch 2\n")
        self.assertIsNone(p.poll())  # still following: it runs
        self.ok("cancel", "acme/research/talk")
        out, err = p.communicate(timeout=15)
        self.assertEqual((p.returncode, out), (0, ""), err)
        # refusals name the field and exit 1; usage errors exit 2
        rc, out, err = self.allot("logs", "acme/research/talk", "--rank", "3")
        self.assertEqual(rc, 1)
        self.assertIn("field: rank", err)
        rc, out, err = self.allot("logs", "acme/research/nope")
        self.assertEqual(rc, 1)
        rc, out, err = self.allot("logs", "not-a-name")
        self.assertEqual(rc, 2)

    def test_logs_on_simulated_nodes_say_so(self):
        self.ok("submit", "-w", "acme/research", "--name", "quiet", "--", "python", "train.py")
        for follow in ([], ["-f"]):  # -f too: no output will ever come, so it ends at once
            rc, out, err = self.allot("logs", *follow, "acme/research/quiet")
            self.assertEqual((rc, out), (0, ""), err)
            self.assertIn("no output: this allotd's nodes are simulated", err)
        st, r = self.d.request("GET", "/v1/workloads/acme/research/quiet/logs",
                               token=self.d.admin)
        self.assertEqual((st, r), (200, ""))

    def test_submit_says_when_the_grace_is_capped(self):
        rc, out, err = self.allot("submit", "-w", "acme/research", "--name", "patient",
                                  "--grace", "10m", "--", "sleep", "1")
        self.assertEqual(rc, 0, err)
        self.assertIn("allot: warning: grace: asked for 10m, capped at 5m, the max_grace of "
                      "tenant acme", err)
        rc, out, err = self.allot("submit", "-w", "acme/research", "--name", "brief",
                                  "--grace", "1m", "--", "sleep", "1")
        self.assertEqual((rc, err), (0, ""))

    def test_time_limits(self):
        """--time-limit is the field time_limit (describe shows it); workspace set
        --max-time-limit refuses a submission above it, naming the field (exit 1); 'none'
        removes it."""
        out = self.ok("admin", "workspace", "set", "acme/research", "--default-time-limit", "1h",
                      "--max-time-limit", "2h")
        self.assertIn("acme/research: time limits: default 1h, max 2h", out)
        self.ok("submit", "-w", "acme/research", "--name", "capped", "--time-limit", "90m",
                "--", "sleep", "1")
        self.assertRegex(self.ok("describe", "acme/research/capped"), r"time limit:\s+1h30m\n")
        self.ok("submit", "-w", "acme/research", "--name", "dflt", "--", "sleep", "1")
        self.assertRegex(self.ok("describe", "acme/research/dflt"), r"time limit:\s+1h\n")
        rc, out, err = self.allot("submit", "-w", "acme/research", "--name", "long",
                                  "--time-limit", "3h", "--", "sleep", "1")
        self.assertEqual(rc, 1, err)
        self.assertIn("max_time_limit of 2h (field: time_limit)", err)
        rc, _, err = self.allot("submit", "-w", "acme/research", "--time-limit", "soon")
        self.assertEqual(rc, 2, err)
        self.assertIn("--time-limit", err)
        self.ok("admin", "workspace", "set", "acme/research", "--default-time-limit", "none",
                "--max-time-limit", "none")
        self.ok("submit", "-w", "acme/research", "--name", "free", "--", "sleep", "1")
        self.assertRegex(self.ok("describe", "acme/research/free"), r"time limit:\s+none\n")

    def test_submit_then_ls(self):
        out = self.ok("submit", "-w", "acme/research", "--gpus", "4", "--name", "train-1",
                      "--kind", "training", "--cpu", "16", "--memory", "128Gi", "--", "python",
                      "train.py", "--lr", "0.1")
        self.assertRegex(out, r"^acme/research/train-1  running  on gpu-[ab]\[0-3\] \(borrowed\)")
        # the request went in as given
        st, w = self.d.request("GET", "/v1/workloads/acme/research/train-1", token=self.d.admin)
        self.assertEqual((st, w["gpus"], w["cpu"], w["memory"]), (200, 4, "16", "128Gi"))
        # human table: a header and the row, columns aligned
        out = self.ok("ls")
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("NAME"), out)
        self.assertEqual(len(lines), 2, out)
        self.assertRegex(lines[1], r"^acme/research/train-1\s+running\s+training\s+4\s+100\s")
        self.assertEqual(lines[0].index("STATE"), lines[1].index("running"))
        # -o json: the server's document, as it is
        doc = json.loads(self.ok("ls", "-o", "json"))
        self.assertEqual([w["name"] for w in doc["items"]], ["acme/research/train-1"])
        self.assertEqual(doc["items"][0]["state"], "running")
        # filters
        self.assertEqual(json.loads(self.ok("ls", "-w", "acme/prod", "-o", "json"))["items"], [])
        doc = json.loads(self.ok("ls", "--state", "running", "-o", "json"))
        self.assertEqual(len(doc["items"]), 1)

    def test_ls_all_follows_pages(self):
        for i in range(5):
            self.ok("submit", "-w", "acme/research", "--gpus", "1", "--name", f"e-{i}")
        page = json.loads(self.ok("ls", "--limit", "2", "-o", "json"))
        self.assertEqual(len(page["items"]), 2)
        self.assertIn("next", page)
        rc, out, err = self.allot("ls", "--limit", "2")
        self.assertEqual(rc, 0)
        self.assertIn("--all", err)  # says there is more
        doc = json.loads(self.ok("ls", "--all", "--limit", "2", "-o", "json"))
        self.assertEqual([w["name"] for w in doc["items"]],
                         [f"acme/research/e-{i}" for i in reversed(range(5))])
        self.assertNotIn("next", doc)
        out = self.ok("ls", "--all", "--limit", "2")
        self.assertEqual(len(out.splitlines()), 6)

    def test_ls_active_first_newest_first(self):
        """ls: the active workloads, newest first, then the ended ones, newest first; pages
        of --limit with the --before (and --state) that the last one names give each
        workload once and in order, also when one is submitted between pages; --state
        filters, also by active and ended; a neighbouring tenant's never show."""
        for name, duration in (("a-0", "1h"), ("f-0", "100ms"), ("a-1", "1h"), ("f-1", "100ms"),
                               ("a-2", "1h")):
            self.ok("submit", "-w", "acme/research", "--gpus", "1", "--name", name,
                    "--duration", duration)
        self.d.add_tenant_beta()
        self.ok("submit", "-w", "beta/lab", "--gpus", "1", "--name", "theirs")
        deadline = time.time() + 10
        while time.time() < deadline and \
                len(json.loads(self.ok("ls", "--state", "finished", "-o", "json"))["items"]) < 2:
            time.sleep(0.05)
        order = ["a-2", "a-1", "a-0", "f-1", "f-0"]
        acme = self.d.user_token("carol", "viewer", "acme")

        def names(*args, token=acme):
            rc, out, err = self.allot("ls", "-o", "json", *args, token=token)
            self.assertEqual(rc, 0, err)
            doc = json.loads(out)
            return [w["name"].split("/")[-1] for w in doc["items"]], doc, err

        self.assertEqual(names()[0], order)
        self.assertEqual(names("--all")[0], order)
        rows = self.ok("ls", token=acme).splitlines()[1:]
        self.assertEqual([r.split()[0].split("/")[-1] for r in rows], order)
        self.assertEqual(names("--state", "finished")[0], ["f-1", "f-0"])
        self.assertEqual(names("--state", "ended")[0], ["f-1", "f-0"])
        self.assertEqual(names("--state", "active")[0], ["a-2", "a-1", "a-0"])
        self.assertEqual(names("--state", "running", "--all", "--limit", "1")[0],
                         ["a-2", "a-1", "a-0"])
        # one page at a time, as the hint says, with one submitted after the first page
        got, doc, err = names("--limit", "2")
        self.assertEqual(got, ["a-2", "a-1"])
        self.assertIn(f"--before {doc['next']} shows the next page", err)
        self.ok("submit", "-w", "acme/research", "--gpus", "1", "--name", "late")
        pages = [got]
        while "next" in doc or "next_state" in doc:
            flags = ["--limit", "2"]
            if "next_state" in doc:
                flags += ["--state", doc["next_state"]]
            if "next" in doc:
                flags += ["--before", str(doc["next"])]
            got, doc, err = names(*flags)
            pages.append(got)
            self.assertEqual(err == "", "next" not in doc and "next_state" not in doc, err)
        self.assertEqual(sum(pages, []), order)
        self.assertEqual(pages[1], ["a-0", "f-1"])  # the page goes on with the ended ones
        self.assertEqual(names()[0], ["late"] + order)
        # the admin sees beta's too; beta's member only its own
        self.assertEqual(names("--state", "running", token=self.d.admin)[0],
                         ["late", "theirs", "a-2", "a-1", "a-0"])
        bob = self.d.user_token("bob", "member", "beta")
        self.assertEqual(names("--all", "--limit", "1", token=bob)[0], ["theirs"])
        self.assertEqual(names("--state", "ended", token=bob)[0], [])

    def test_ls_state_failed(self):
        """ls --state failed lists the workloads whose run failed (an agent's non-zero exit),
        and no other; the other states leave them out."""
        self.d.stop()
        self.d = Daemon(os.path.join(self.tmp, "data2"), extra=["--no-virtual-nodes"])
        st, r = self.d.request("POST", "/v1/tokens", {"node": "gpu-a"}, token=self.d.admin)
        self.assertEqual(st, 201, r)
        node = r["token"]

        def report(workloads=()):
            gpus = [{"index": i, "uuid": f"GPU-a-{i}", "healthy": True} for i in range(8)]
            st, r = self.d.request("POST", "/v1/nodes/gpu-a/report",
                                   {"inventory": {"discovered": False, "gpus": gpus},
                                    "workloads": list(workloads)}, token=node)
            self.assertEqual(st, 200, r)

        report()
        self.ok("admin", "node", "drain", "gpu-b")  # everything runs on gpu-a
        for name in ("bad", "good", "runs"):
            self.ok("submit", "-w", "acme/research", "--gpus", "1", "--name", name, "--",
                    "true")
        report([{"name": "acme/research/bad", "state": "exited", "exit_code": 3},
                {"name": "acme/research/good", "state": "exited", "exit_code": 0},
                {"name": "acme/research/runs", "state": "running"}])
        out = self.ok("ls", "--state", "failed")
        self.assertEqual([r.split()[0] for r in out.splitlines()[1:]], ["acme/research/bad"])
        self.assertIn("exit code 3", out)
        doc = json.loads(self.ok("ls", "--state", "failed", "-o", "json"))
        self.assertEqual([w["state"] for w in doc["items"]], ["failed"])
        doc = json.loads(self.ok("ls", "-o", "json"))
        self.assertEqual([(w["name"], w["state"]) for w in doc["items"]],
                         [("acme/research/runs", "running"), ("acme/research/good", "finished"),
                          ("acme/research/bad", "failed")])
        self.assertEqual(json.loads(self.ok("ls", "--state", "finished", "-o", "json"))
                         ["items"][0]["name"], "acme/research/good")

    def test_describe_pending_shows_reason(self):
        out = self.ok("submit", "-w", "acme/research", "--gpus", "8", "--replicas", "2",
                      "--name", "all")
        self.assertIn("running", out)
        sentence = ("workspace acme/research holds 16 of its 16 gpu limit; this workload needs "
                    "1 more")
        out = self.ok("submit", "-w", "acme/research", "--gpus", "1", "--name", "waits")
        # the specific sentence, not only the rule
        self.assertEqual(out.strip(), f"acme/research/waits  pending  workspace_limit: {sentence}")
        self.ok("submit", "-w", "acme/research", "--gpus", "1", "--name", "after")
        out = self.ok("describe", "acme/research/waits")
        self.assertRegex(out, r"state:\s+pending")
        # the /why explanation, in plain words, and the rule's name; then the sentence, the
        # positions, what holds it and why no start can be estimated ("all" has no duration)
        why = self.d.request("GET", "/v1/workloads/acme/research/waits/why",
                             token=self.d.admin)[1]
        self.assertIn(f"why:         {why['explanation']} (workspace_limit)\n"
                      f"             {sentence}\n"
                      "position:    1 of 2 in its workspace's queue, 1 of 2 in its tenant's\n"
                      "held by:     acme/research/all (holds the workspace limit, running)\n"
                      "starts:      unknown: 1 of the 1 workload(s) it waits for have no known "
                      "end (no duration or time limit)\n", out)
        self.assertNotIn("placement", out)
        # allot why: the same section; the second one names the first as ahead of it
        out = self.ok("why", "acme/research/after")
        self.assertIn("position:    2 of 2 in its workspace's queue, 2 of 2 in its tenant's\n"
                      "ahead:       acme/research/waits\n", out)
        self.assertIn("starts:      unknown: 1 workload(s) are ahead of it", out)
        self.assertEqual(json.loads(self.ok("why", "acme/research/after", "-o", "json"))
                         ["position"]["workspace"], {"index": 2, "of": 2})
        self.assertIn("why:         nothing holds it back", self.ok("why", "acme/research/all"))
        # a running one shows its placement instead
        out = self.ok("describe", "acme/research/all")
        self.assertRegex(out, r"placement:\s+replica 0 on gpu-a\[0-7\]")
        self.assertIn("replica 1 on gpu-b[0-7]", out)
        self.assertNotIn("why:", out)
        doc = json.loads(self.ok("describe", "acme/research/waits", "-o", "json"))
        self.assertEqual((doc["state"], doc["reason"]), ("pending", "workspace_limit"))

    def test_cancel(self):
        self.ok("submit", "-w", "acme/research", "--gpus", "8", "--replicas", "2", "--name", "a")
        self.ok("submit", "-w", "acme/research", "--gpus", "1", "--name", "b")
        out = self.ok("cancel", "acme/research/b")
        self.assertIn("acme/research/b  cancelled", out)
        st, w = self.d.request("GET", "/v1/workloads/acme/research/b", token=self.d.admin)
        self.assertEqual(w["state"], "cancelled")
        out = self.ok("cancel", "acme/research/a")
        self.assertIn("draining", out)
        # cancelling again is refused by the daemon: exit 1 with its message
        rc, out, err = self.allot("cancel", "acme/research/b")
        self.assertEqual(rc, 1, err)
        self.assertTrue(err.startswith("allot: "), err)

    def test_exit_1_for_not_found(self):
        rc, out, err = self.allot("describe", "acme/research/nope")
        self.assertEqual(rc, 1)
        self.assertEqual(out, "")
        hint = ("; it may not exist, or your token may not be allowed to see it (ask your "
                "tenant's admin)")
        self.assertEqual(err.strip(), "allot: no workload 'acme/research/nope'" + hint)
        rc, _, err = self.allot("cancel", "acme/research/nope")
        self.assertEqual(rc, 1)
        rc, _, err = self.allot("submit", "-w", "acme/nope", "--gpus", "1")
        self.assertEqual(rc, 1)
        self.assertEqual(err.strip(), "allot: no workspace 'acme/nope' (field: workspace)" + hint)
        # a member who names a workspace it may not use gets the same answer: no leak
        bob = self.d.user_token("bob", "member", "acme", "acme/research")
        rc, _, err_bob = self.allot("submit", "-w", "acme/prod", "--gpus", "1", token=bob)
        self.assertEqual(rc, 1)
        self.assertEqual(err_bob.strip(), "allot: no workspace 'acme/prod' (field: workspace)" +
                         hint)
        # -o json: the error document goes to stdout as it came
        rc, out, err = self.allot("describe", "acme/research/nope", "-o", "json")
        self.assertEqual(rc, 1)
        self.assertEqual(json.loads(out)["error"]["code"], "noent")

    def test_exit_1_for_rejected(self):
        rc, out, err = self.allot("submit", "-w", "acme/research", "--gpus", "8",
                                  "--replicas", "3", "--name", "huge")
        self.assertEqual(rc, 1, err)
        self.assertIn("acme/research/huge  rejected  exceeds_limit", out)
        rc, out, _ = self.allot("submit", "-w", "acme/research", "--gpus", "8",
                                "--replicas", "3", "--name", "huge2", "-o", "json")
        self.assertEqual(rc, 1)
        self.assertEqual(json.loads(out)["state"], "rejected")

    def test_exit_1_for_a_bad_field_names_it(self):
        path = self.write("w.yaml", "workspace: acme/research\ngpus: 1\nbogus: 2\n")
        rc, _, err = self.allot("submit", "-f", path)
        self.assertEqual(rc, 1)
        self.assertIn("(field: bogus)", err)

    def test_exit_2_for_usage_errors(self):
        for args, message in [
                (["submit", "--bogus"], "unknown option '--bogus'"),
                (["submit", "-w", "acme/research", "--gpus", "two"], "--gpus: expected a whole"),
                (["submit", "-w", "acme/research", "--gpus", "-1"], "--gpus"),
                (["submit", "-w", "acme", "--gpus", "1"], "--workspace: expected TENANT/WORKSPACE"),
                (["submit", "--gpus", "1"], "-w/--workspace"),
                (["submit", "-w", "acme/research", "--memory", "12Gx"], "--memory"),
                (["submit", "-w", "acme/research", "--gpus", "1", "--mig", "1g.10gb"],
                 "exclude each other"),
                (["submit", "-w", "acme/research", "--kind", "batch"], "--kind"),
                (["submit", "-w", "acme/research", "--gpus", "1", "--gpus", "2"], "given twice"),
                (["submit", "-w", "acme/research", "--"], "must be followed by a command"),
                (["ls", "-o", "yaml"], "--output: expected table or json"),
                (["ls", "--state", "sleeping"], "--state"),
                (["ls", "--limit", "0"], "--limit"),
                (["describe"], "missing TENANT/WS/NAME"),
                (["describe", "a/b"], "expected TENANT/WORKSPACE/NAME"),
                (["describe", "a/b/c", "d"], "unexpected argument 'd'"),
                (["ws", "--timeout", "soon"], "--timeout"),
                (["admin", "workspace", "set", "acme/prod"], "nothing to change"),
                (["admin", "workspace", "set", "acme/prod", "--lend", "maybe"], "--lend"),
                (["admin", "token", "create"], "--user"),
                (["admin", "user", "create", "x", "--role", "god"], "--role"),
                (["admin", "frob"], "unknown or incomplete command"),
                (["submit", "-f", os.path.join(self.tmp, "missing.yaml")], "missing.yaml")]:
            rc, out, err = self.allot(*args)
            self.assertEqual(rc, 2, (args, err))
            self.assertIn(message, err, args)
            self.assertEqual(out, "", args)
        rc, _, err = self.allot("ls", server="ftp://example")
        self.assertEqual(rc, 2)
        self.assertIn("ALLOT_SERVER", err)

    def test_common_flags_before_the_command(self):
        self.ok("submit", "-w", "acme/research", "--gpus", "1", "--name", "early", "--", "true")
        # --server, --token and -o json before the command work as after it
        doc = json.loads(self.ok("--server", self.d.url, "--token", self.d.admin, "--timeout",
                                 "5s", "-o", "json", "ls", server="", token=""))
        self.assertEqual([w["name"] for w in doc["items"]], ["acme/research/early"])
        doc = json.loads(self.ok("--output=json", "ls", "-w", "acme/research"))
        self.assertEqual(len(doc["items"]), 1)
        # before a command with "--": the flags stay out of the workload's command
        # (had "-o json" gone after it, the answer would be a table)
        doc = json.loads(self.ok("-o", "json", "submit", "-w", "acme/research", "--name", "cmd",
                                 "--", "echo", "-o"))
        self.assertEqual(doc["name"], "acme/research/cmd")
        # before a multi-word command
        out = self.ok("--server", self.d.url, "admin", "tenant", "create", "early-t",
                      "--max-grace", "2m", server="")
        self.assertIn("early-t", out)
        # a wrong token before the command is used (1: refused), and so is a wrong server (3)
        rc, _, err = self.allot("--token", "allot_" + "0" * 16 + "_" + "0" * 40, "ls")
        self.assertEqual(rc, 1, err)
        rc, _, err = self.allot("--server", f"http://127.0.0.1:{free_port()}", "ls")
        self.assertEqual(rc, 3, err)
        # what is wrong before the command is named
        for args, message in [(["--bogus", "ls"], "unknown flag '--bogus' before the command"),
                              (["-x", "ls"], "unknown flag '-x' before the command"),
                              (["--token"], "--token needs a value"),
                              (["-o", "json"], "a command must follow the flags"),
                              (["-o", "yaml", "ls"], "--output: expected table or json"),
                              (["--token", "a", "ls", "--token", "b"], "--token given twice")]:
            rc, out, err = self.allot(*args)
            self.assertEqual(rc, 2, (args, err))
            self.assertIn(message, err, args)
            self.assertEqual(out, "", args)

    def serve(self, handler):
        """Serve handler (a BaseHTTPRequestHandler class) on 127.0.0.1 until the test ends.
        RET its URL."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return f"http://127.0.0.1:{server.server_address[1]}"

    def fake_server(self, answer):
        """A server that records each request's method, path and JSON body in the list it
        returns, and answers answer (a dict) to each. RET (its URL, the list)."""
        seen = []

        class Fake(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                seen.append((self.command, self.path, json.loads(self.rfile.read(n) or b"null")))
                body = json.dumps(answer).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return self.serve(Fake), seen

    def write_config(self, text):
        conf = os.path.join(self.home, ".config", "allot")
        os.makedirs(conf, exist_ok=True)
        path = os.path.join(conf, "config")
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
        return path

    def test_submit_env(self):
        url, seen = self.fake_server({"name": "a/b/c", "state": "running"})
        # env's values are text as written (True), and the file's own booleans stay booleans
        path = self.write("w.yaml", "workspace: a/b\nenv: {A: old, D: kept, F: True}\n"
                                    "preemptible: true\n")
        self.ok("submit", "-f", path, "--env", "A=1", "-e", "B=", "--env=C=x=y", "-e",
                "E=two words", "--", "true", server=url)
        self.assertEqual(seen[0][:2], ("POST", "/v1/workloads"))
        self.assertEqual(seen[0][2]["env"],
                         {"A": "1", "B": "", "C": "x=y", "D": "kept", "E": "two words",
                          "F": "True"})
        self.assertIs(seen[0][2]["preemptible"], True)
        # against the daemon: the variables are taken, and the name is checked before sending
        self.ok("submit", "-w", "acme/research", "--name", "with-env", "-e", "HF_HOME=/cache",
                "--", "true")
        for args, message in [
                (["-e", "1X=2"], "--env: expected NAME=VALUE"),
                (["--env", "NOEQUALS"], "got 'NOEQUALS'"),
                (["--env", "A-B=1"], "got 'A-B=1'"),
                (["-e", "X=1", "-e", "X=2"], "--env: X given twice"),
                ([arg for i in range(65) for arg in ("-e", f"V{i}=1")], "--env given more than 64 times")]:
            rc, out, err = self.allot("submit", "-w", "acme/research", *args)
            self.assertEqual(rc, 2, (args[:4], err))
            self.assertIn(message, err, args[:4])
        # nothing was sent for them
        doc = json.loads(self.ok("ls", "-o", "json"))
        self.assertEqual([w["name"] for w in doc["items"]], ["acme/research/with-env"])

    def test_default_workspace(self):
        self.write_config("workspace = acme/research\n")
        out = self.ok("submit", "--gpus", "1", "--name", "dflt", "--", "true")
        self.assertIn("acme/research/dflt  running", out)
        # -w wins over it, and so does the file's workspace; $ALLOT_WORKSPACE over the file
        out = self.ok("submit", "-w", "acme/prod", "--gpus", "1", "--name", "flag")
        self.assertIn("acme/prod/flag ", out)
        path = self.write("w.yaml", "workspace: acme/prod\nname: file\ngpus: 1\n")
        self.assertIn("acme/prod/file ", self.ok("submit", "-f", path))
        out = self.ok("submit", "--gpus", "1", "--name", "var",
                      env={"ALLOT_WORKSPACE": "acme/prod"})
        self.assertIn("acme/prod/var ", out)
        # ls is not filtered by it: it lists all the token may see
        doc = json.loads(self.ok("ls", "-o", "json"))
        self.assertEqual(sorted(w["name"] for w in doc["items"]),
                         ["acme/prod/file", "acme/prod/flag", "acme/prod/var",
                          "acme/research/dflt"])
        # a bad one is named, with its line; without any, the message says where one goes
        self.write_config("# c\nworkspace = acme\n")
        rc, _, err = self.allot("submit", "--gpus", "1")
        self.assertEqual(rc, 2, err)
        self.assertIn("config:2: workspace: expected TENANT/WORKSPACE", err)
        rc, _, err = self.allot("submit", "--gpus", "1", env={"ALLOT_WORKSPACE": "a/b/c"})
        self.assertEqual(rc, 2, err)
        self.assertIn("ALLOT_WORKSPACE: expected TENANT/WORKSPACE", err)
        # a file others may read that holds a token: one warning, though submit reads it twice
        path = self.write_config(f"token = {self.d.admin}\nworkspace = acme/research\n")
        os.chmod(path, 0o644)
        rc, out, err = self.allot("submit", "--gpus", "0", "--name", "warned", token="")
        self.assertEqual(rc, 0, err)
        self.assertIn("acme/research/warned ", out)
        self.assertEqual(err.count("others may read it"), 1, err)
        self.write_config("")
        rc, _, err = self.allot("submit", "--gpus", "1")
        self.assertEqual(rc, 2, err)
        self.assertIn("give -w/--workspace TENANT/WS", err)
        self.assertIn("workspace line in the config file", err)

    def test_exit_3_when_unreachable(self):
        port = free_port()  # nothing listens there
        rc, out, err = self.allot("ls", server=f"http://127.0.0.1:{port}")
        self.assertEqual(rc, 3, err)
        self.assertIn(f"cannot reach the server at http://127.0.0.1:{port}", err)
        rc, _, _ = self.allot("submit", "-w", "acme/research", "--gpus", "1",
                              server=f"http://127.0.0.1:{port}")
        self.assertEqual(rc, 3)
        # a server that accepts but never answers: the timeout
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            start = time.time()
            rc, _, err = self.allot("ws", "--timeout", "500ms",
                                    server=f"http://127.0.0.1:{s.getsockname()[1]}")
            self.assertEqual(rc, 3, err)
            self.assertLess(time.time() - start, 5)

    def test_help_everywhere(self):
        for args in [["submit"], ["ls"], ["describe"], ["cancel"], ["nodes"], ["ws"], ["top"],
                     ["admin"], ["admin", "tenant", "create"], ["admin", "workspace", "set"],
                     ["admin", "node", "add"], ["admin", "node", "drain"],
                     ["admin", "token", "create"], ["admin", "user", "create"],
                     ["admin", "user", "list"], ["admin", "token", "list"]]:
            rc, out, err = self.allot(*args, "--help")
            self.assertEqual(rc, 0, args)
            self.assertTrue(out.startswith("usage: allot " + " ".join(args)), (args, out))
        out = self.ok("submit", "--help")
        self.assertIn("--idempotency-key KEY", out)
        self.assertIn("exit codes", out)
        out = self.ok("--help")
        for cmd in ["submit", "ls", "describe", "cancel", "nodes", "ws", "top", "admin", "sim"]:
            self.assertRegex(out, rf"\n  {cmd} ")

    def test_submit_from_files(self):
        path = self.write("w.yaml", "workspace: acme/research\nname: from-yaml\ngpus: 2\n"
                                    "memory: 64Gi\ncommand: [python, train.py, --lr, 0.1]\n")
        out = self.ok("submit", "-f", path)
        self.assertIn("acme/research/from-yaml  running", out)
        path = self.write("w.json", json.dumps({"workspace": "acme/research", "gpus": 1,
                                                "name": "from-json"}))
        # flags override the file's fields
        out = self.ok("submit", "-f", path, "--name", "renamed", "--gpus", "3")
        self.assertIn("acme/research/renamed  running", out)
        st, w = self.d.request("GET", "/v1/workloads/acme/research/renamed", token=self.d.admin)
        self.assertEqual(w["gpus"], 3)
        out = self.ok("submit", "-f", "-", stdin=json.dumps({"workspace": "acme/prod",
                                                             "gpus": 1, "name": "stdin"}))
        self.assertIn("acme/prod/stdin  running", out)
        path = self.write("bad.yaml", "workspace: acme/research\ngpus: [1\n")
        rc, _, err = self.allot("submit", "-f", path)
        self.assertEqual(rc, 2)
        self.assertIn("bad.yaml:3", err)

    def test_submit_image_and_workdir(self):
        """--image and --workdir reach the daemon as the workload's fields; a bad image or a
        relative directory is refused before anything is sent (exit 2, the flag named)."""
        out = self.ok("submit", "-w", "acme/research", "--name", "boxed", "--gpus", "1",
                      "--image", "tools/busybox:1.0", "--workdir", "/srv/job", "--",
                      "sh", "-c", "pwd")
        self.assertIn("acme/research/boxed  running", out)
        st, w = self.d.request("GET", "/v1/workloads/acme/research/boxed", token=self.d.admin)
        self.assertEqual((w["image"], w["workdir"]), ("tools/busybox:1.0", "/srv/job"), w)
        for flags, word in ((["--image", "Busybox"], "--image:"),
                            (["--image", "busybox:1", "--workdir", "srv"], "--workdir:")):
            rc, _, err = self.allot("submit", "-w", "acme/research", "--gpus", "1", *flags,
                                    "--", "true")
            self.assertEqual(rc, 2, err)
            self.assertIn(word, err)
        # a workdir without an image: the daemon's own rule, its answer shown
        rc, _, err = self.allot("submit", "-w", "acme/research", "--gpus", "1",
                                "--workdir", "/srv", "--", "true")
        self.assertEqual(rc, 1, err)
        self.assertIn("workdir", err)
        self.assertEqual(len(json.loads(self.ok("ls", "-o", "json"))["items"]), 1)

    def test_idempotency_key(self):
        a = json.loads(self.ok("submit", "-w", "acme/prod", "--gpus", "1",
                               "--idempotency-key", "job-42", "-o", "json"))
        rc, out, err = self.allot("submit", "-w", "acme/prod", "--gpus", "1",
                                  "--idempotency-key", "job-42", "-o", "json")
        self.assertEqual(rc, 0)
        self.assertEqual(json.loads(out)["name"], a["name"])
        self.assertIn("idempotency key", err)
        self.assertEqual(len(json.loads(self.ok("ls", "-o", "json"))["items"]), 1)

    # ---- ls --watch ----

    def submit_http(self, workspace, name, token=None, gpus=1):
        st, r = self.d.request("POST", "/v1/workloads",
                               {"workspace": workspace, "name": name, "gpus": gpus},
                               token=token or self.d.admin)
        self.assertEqual(st, 201, r)
        return r

    def test_ls_watch_json_prints_each_event(self):
        self.submit_http("acme/research", "before")
        start = time.time()
        p, listing = self.watch("--watch-timeout", "3s", "-o", "json")
        # first the list, as ls -o json prints it
        self.assertEqual([w["name"] for w in json.loads(listing)["items"]],
                         ["acme/research/before"])
        self.submit_http("acme/research", "w-1")
        self.submit_http("acme/prod", "w-2")
        rc, out, err = self.finish(p)
        self.assertEqual(rc, 0, err)  # --watch-timeout ends it cleanly
        self.assertGreaterEqual(time.time() - start, 2.9)
        self.assertLess(time.time() - start, 10)
        events = [json.loads(line) for line in out.splitlines()]  # one object per line
        ours = [(e["event"], e["workload"]) for e in events
                if e.get("workload") in ("acme/research/w-1", "acme/prod/w-2")]
        self.assertEqual(ours, [("submitted", "acme/research/w-1"),
                                ("admitted", "acme/research/w-1"),
                                ("submitted", "acme/prod/w-2"),
                                ("admitted", "acme/prod/w-2")])
        admitted = [e for e in events if e["event"] == "admitted"]
        self.assertEqual(len(admitted[1]["placement"][0]["gpus"]), 1)
        self.assertEqual(admitted[1]["workspace"], "acme/prod")
        self.assertLess(abs(admitted[0]["t"] - time.time()), 60)  # seconds since the epoch
        self.assertNotIn("acme/research/before", out)  # it was listed, nothing happened to it

    def test_ls_watch_human_lines_filtered_by_workspace(self):
        p, header = self.watch("-w", "acme/prod", "--watch-timeout", "3s",
                               env={"TZ": "XST-5:30"})
        self.assertTrue(header.startswith("NAME"), header)
        self.submit_http("acme/research", "other")
        self.submit_http("acme/prod", "mine")
        self.submit_http("acme/prod", "huge", gpus=16)
        rc, out, err = self.finish(p)
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertEqual(len(lines), 4, out)  # only acme/prod's events
        self.assertRegex(lines[0], r"^\d\d:\d\d:\d\d  submitted\s+acme/prod/mine$")
        self.assertRegex(lines[1], r"^\d\d:\d\d:\d\d  admitted\s+acme/prod/mine\s+gpu-[ab]\[\d\]$")
        self.assertRegex(lines[3], r"^\d\d:\d\d:\d\d  rejected\s+acme/prod/huge\s+"
                                   r"exceeds_limit: \S")
        # the time of day is the event's, in local time (TZ is 5h30 east of UTC here)
        h, m, sec = (int(x) for x in lines[0][:8].split(":"))
        now = (time.time() + 5.5 * 3600) % 86400
        self.assertLess(abs((h * 3600 + m * 60 + sec - now + 43200) % 86400 - 43200), 30)
        self.assertNotIn("other", out)

    def test_ls_watch_shows_only_what_the_token_may_see(self):
        # tenant beta, with a node and a workspace, and a member of it
        self.assertEqual(self.d.request("POST", "/v1/tenants", {"name": "beta"},
                                        token=self.d.admin)[0], 201)
        st, r = self.d.request("POST", "/v1/nodes", {
            "name": "beta-1", "cluster": "shared-1", "tenant": "beta", "cpu": 64,
            "memory": "512Gi", "gpus": [{"model": "H100-80GB", "count": 4}]}, token=self.d.admin)
        self.assertEqual(st, 201, r)
        st, r = self.d.request("POST", "/v1/workspaces", {"name": "beta/lab",
                                                          "reserved": {"gpu": 2}},
                               token=self.d.admin)
        self.assertEqual(st, 201, r)
        st, r = self.d.request("POST", "/v1/users", {"name": "bob", "role": "member",
                                                     "tenant": "beta", "workspace": "beta/lab"},
                               token=self.d.admin)
        self.assertEqual(st, 201, r)
        st, r = self.d.request("POST", "/v1/tokens", {"user": "bob"}, token=self.d.admin)
        self.assertEqual(st, 201, r)
        bob = r["token"]
        p, listing = self.watch("--watch-timeout", "3s", "-o", "json", token=bob)
        self.assertEqual(json.loads(listing)["items"], [])
        self.submit_http("acme/research", "acme-job")
        self.submit_http("beta/lab", "beta-job", token=bob)
        # the admin's watch of the same time would show both: bob's shows beta's only
        rc, out, err = self.finish(p)
        self.assertEqual(rc, 0, err)
        events = [json.loads(line) for line in out.splitlines()]
        self.assertEqual([(e["event"], e["workload"]) for e in events],
                         [("submitted", "beta/lab/beta-job"), ("admitted", "beta/lab/beta-job")])
        self.assertNotIn("acme", out)

    def test_ls_watch_ends_on_sigint_and_when_the_server_goes(self):
        p, header = self.watch()
        self.assertTrue(header.startswith("NAME"), header)
        time.sleep(0.2)
        p.send_signal(signal.SIGINT)
        rc, out, err = self.finish(p, timeout=5)
        self.assertEqual((rc, out, err), (0, "", ""))
        # the server gone for good: the watch tries to reconnect for its --timeout, then ends
        p, _ = self.watch("--timeout", "2s")
        self.d.stop()
        rc, out, err = self.finish(p)
        self.assertEqual(rc, 3, err)
        self.assertIn("event stream", err)
        self.assertIn("reconnecting", err)
        self.assertIn("cannot reach the server", err)
        # a refusal is exit 1 with the daemon's message
        self.d = Daemon(self.d.data)
        rc, out, err = self.allot("ls", "--watch", "--watch-timeout", "1s",
                                  token="allot_" + "0" * 16 + "_" + "0" * 40)
        self.assertEqual(rc, 1)
        self.assertIn("allot: the token is unknown", err)

    def test_ls_watch_reconnects_with_last_event_id(self):
        """allotd restarts under a watch: the stream drops, the watch tries again until the
        daemon is back (within --timeout), opens it with Last-Event-ID, shows what happened
        meanwhile and after, and nothing twice."""
        p, listing = self.watch("-o", "json", "--timeout", "20s")
        self.submit_http("acme/research", "before-restart")
        time.sleep(0.5)
        port, data = self.d.port, self.d.data
        self.d.stop()
        time.sleep(1.5)  # down for a while: the watch's first tries find nobody, and it retries
        self.d = allotd_harness.Daemon(ALLOTD, data, None, port=port)
        self.submit_http("acme/research", "after-restart")
        deadline = time.time() + 10
        while time.time() < deadline:
            time.sleep(0.2)
            st, r = self.d.request("GET", "/metrics")
            if "allot_event_streams 1" in str(r):
                break
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        rc, out, err = self.finish(p)
        self.assertEqual(rc, 0, err)
        events = [(e["event"], e["workload"]) for e in map(json.loads, out.splitlines())
                  if "workload" in e]
        self.assertEqual(events, [("submitted", "acme/research/before-restart"),
                                  ("admitted", "acme/research/before-restart"),
                                  ("submitted", "acme/research/after-restart"),
                                  ("admitted", "acme/research/after-restart")], err)
        self.assertIn("reconnecting after event", err)
        self.assertIn("following the event stream of", err)

    def test_ls_watch_stream_bounds(self):
        """Against a fake server: lines of 64 KiB at most, CR LF and comments as SSE says,
        and a stream that ends is opened again with Last-Event-ID (here refused: exit 1)."""
        stream = {"resumes": []}

        class Fake(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the body ends when the connection closes

            def log_message(self, *args):
                pass

            def do_GET(self):
                status = 200
                if self.path.startswith("/v1/workloads"):
                    body, kind = b'{"items":[]}', "application/json"
                elif self.headers.get("Last-Event-ID") is not None:
                    stream["resumes"].append(self.headers.get("Last-Event-ID"))
                    body, kind = b'{"error":{"code":"noent","message":"gone"}}', \
                        "application/json"
                    status = 404
                else:
                    body, kind = stream["body"], "text/event-stream"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.end_headers()
                self.wfile.write(body)

        url = self.serve(Fake)
        one = b'{"event":"submitted","workload":"a/b/c","workspace":"a/b"}'
        stream["body"] = (b": keep-alive\r\nid: 1\r\nevent: submitted\r\ndata: " + one +
                          b"\r\n\r\n" + b"data: " + b"x" * (64 << 10) + b"\n\n")
        rc, out, err = self.allot("ls", "--watch", "-o", "json", server=url)
        self.assertEqual(rc, 1, err)
        self.assertEqual(out.splitlines()[1:], [one.decode()])
        self.assertIn("longer than 64 KiB", err)
        stream["body"] = b"id: 7\nevent: submitted\ndata: " + one + b"\n\n"
        rc, out, err = self.allot("ls", "--watch", "-o", "json", server=url)
        self.assertEqual(rc, 1, err)
        self.assertEqual(out.splitlines()[1], one.decode())  # once: the refusal comes next
        self.assertIn("ended; reconnecting after event 7", err)
        self.assertIn("gone", out + err)  # -o json prints the refusal as JSON
        self.assertEqual(stream["resumes"], ["7"])

    # ---- capacity ----

    def test_nodes_ws_top(self):
        self.ok("submit", "-w", "acme/prod", "--gpus", "3", "--name", "serve")
        out = self.ok("nodes")
        self.assertRegex(out, r"gpu-a\s+shared-1\s+acme\s+ready\s+H100-80GB\s+8\s+3\s+0")
        # virtual nodes: no agent speaks for it; not drained, so no reason
        self.assertRegex(out, r"gpu-a .*simulated\s+-\n")
        out = self.ok("nodes", "gpu-a")
        self.assertRegex(out, r"\n\s+0\s+H100-80GB\s+yes\s+whole\s+acme/prod/serve")
        out = self.ok("ws")
        self.assertRegex(out, r"acme/prod\s+4\s+8\s+3\s+3\s+0\s+0\s+yes\s+1")
        out = self.ok("top")
        self.assertRegex(out, r"acme\s+shared\s+2\s+16\s+3\s+13\s+4\s+0")
        self.assertRegex(out, r"acme/prod\s+3\s+3\s+0\s+4\s+8\s+0")
        doc = json.loads(self.ok("top", "-o", "json"))
        self.assertEqual(doc["tenants"][0]["gpus"]["free"], "13")
        self.assertEqual(len(doc["workspaces"]), 2)

    # ---- admin ----

    def test_workspace_set_then_ws(self):
        out = self.ok("admin", "workspace", "set", "acme/research", "--reserve", "2",
                      "--weight", "3")
        self.assertIn("acme/research: reserved 2 GPUs", out)
        out = self.ok("ws")
        self.assertRegex(out, r"acme/research\s+2\s+16\s+0\s+0\s+0\s+0\s+yes\s+3")
        ws = json.loads(self.ok("ws", "acme/research", "-o", "json"))
        self.assertEqual((ws["reserved"]["gpu"], ws["weight"]), ("2", 3))
        # the daemon refuses a reservation above the limit, naming the field
        rc, _, err = self.allot("admin", "workspace", "set", "acme/research", "--reserve", "99")
        self.assertEqual(rc, 1)
        self.assertIn("(field: reserved.gpu)", err)
        out = self.ok("admin", "workspace", "create", "acme/lab", "--reserve", "1",
                      "--limit-gpu", "2", "--limit-memory", "64Gi", "--lend", "false")
        self.assertIn("acme/lab: reserved 1 GPUs, limits gpu 2", out)
        self.assertIn("lend no", out)

    def test_token_last_used_survives_a_restart(self):
        """A token's last use is kept in memory and written at most once a minute, and at a
        clean stop: after a restart it is still there; a token not used since is not."""
        alice = self.d.user_token("alice", "member", "acme", "acme/research")
        self.d.user_token("bob", "member", "acme", "acme/research")
        before = int(time.time() * 1000)
        self.assertEqual(self.d.request("GET", "/v1/workloads", token=alice)[0], 200)
        after = int(time.time() * 1000)
        data = self.d.data
        self.d.stop()
        self.d = Daemon(data)
        st, doc = self.d.request("GET", "/v1/tokens", token=self.d.admin)
        self.assertEqual(st, 200, doc)
        used = {t["user"]: t["last_used"] for t in doc["items"]}
        self.assertIsNone(used["bob"])
        self.assertGreaterEqual(used["alice"], before)
        self.assertLessEqual(used["alice"], after)

    def test_token_create_prints_a_token_that_works(self):
        self.ok("admin", "user", "create", "alice", "--role", "member",
                "--workspace", "acme/research")
        rc, out, err = self.allot("admin", "token", "create", "--user", "alice")
        self.assertEqual(rc, 0, err)
        token = out.strip()
        self.assertRegex(token, r"^allot_[0-9a-f]{16}_[0-9a-f]{40}$")
        self.assertIn("only this once", err)
        # alice's token works, and is alice's: she sees her workspace only
        out = self.ok("submit", "-w", "acme/research", "--gpus", "1", "--name", "mine",
                      token=token)
        self.assertIn("running", out)
        names = [w["name"] for w in json.loads(self.ok("ws", "-o", "json", token=token))["items"]]
        self.assertEqual(names, ["acme/research"])
        rc, _, err = self.allot("submit", "-w", "acme/prod", "--gpus", "1", token=token)
        self.assertEqual(rc, 1)
        # revoked, it no longer works
        self.ok("admin", "token", "revoke", token.split("_")[1])
        rc, _, err = self.allot("ls", token=token)
        self.assertEqual(rc, 1)
        rc, _, err = self.allot("ls", token="allot_" + "0" * 16 + "_" + "0" * 40)
        self.assertEqual(rc, 1)
        rc, _, err = self.allot("ls", token="")  # none at all
        self.assertEqual(rc, 1)
        self.assertIn("no token was given", err)
        # a one-time join token for a node: traded once at POST /v1/join for the node token
        join = self.ok("admin", "token", "create", "--node", "gpu-a", "--join").strip()
        st, r = self.d.request("POST", "/v1/join", {"token": join})
        self.assertEqual(st, 201, r)
        self.assertEqual(self.d.request("POST", "/v1/join", {"token": join})[0], 401)
        self.assertEqual(self.allot("admin", "token", "create", "--user", "alice", "--join")[0], 2)

    def test_tenant_node_lifecycle(self):
        out = self.ok("admin", "tenant", "create", "beta", "--dedicated", "--max-grace", "2m")
        self.assertIn("created tenant beta (dedicated", out)
        rc, _, err = self.allot("admin", "tenant", "create", "beta")
        self.assertEqual(rc, 1)
        self.assertIn("already exists", err)
        self.ok("admin", "cluster", "create", "c2", "--dedicated-to", "beta")
        path = self.write("node.yaml", "name: beta-1\ncluster: c2\ntenant: beta\ncpu: 64\n"
                                       "memory: 512Gi\ngpus:\n  - {model: A100-80GB, count: 4}\n")
        out = self.ok("admin", "node", "add", "-f", path)
        self.assertIn("node beta-1: ready, tenant beta, cluster c2, 4 GPUs", out)
        out = self.ok("admin", "node", "drain", "beta-1")
        self.assertIn("draining", out)
        self.assertRegex(self.ok("nodes"), r"beta-1\s+c2\s+beta\s+draining")
        doc = json.loads(self.ok("admin", "node", "undrain", "beta-1", "-o", "json"))
        self.assertEqual(doc["state"], "ready")
        rc, _, _ = self.allot("admin", "node", "drain", "nope")
        self.assertEqual(rc, 1)

    def test_config_file(self):
        conf = os.path.join(self.home, ".config", "allot")
        os.makedirs(conf)
        path = os.path.join(conf, "config")
        with open(path, "w") as f:
            f.write(f"# allot client\nserver = {self.d.url}/\ntoken = {self.d.admin}\n")
        os.chmod(path, 0o600)
        out = self.ok("ws", server="", token="")  # empty variables: not set
        self.assertIn("acme/prod", out)
        # flags win over the environment, which wins over the file
        rc, _, err = self.allot("ws", "--server", "http://127.0.0.1:1", server="", token="")
        self.assertEqual(rc, 3)
        rc, _, err = self.allot("ws", token="allot_" + "0" * 16 + "_" + "0" * 40)
        self.assertEqual(rc, 1)
        with open(path, "a") as f:
            f.write("colour = red\n")
        rc, _, err = self.allot("ws", server="", token="")
        self.assertEqual(rc, 2)
        self.assertIn("config:4: unknown key 'colour'", err)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1] + sys.argv[4:], verbosity=2)
