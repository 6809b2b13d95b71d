#!/usr/bin/env python3
"""Integration tests of node maintenance through the real allotd and allot: a drain's reason
(kept while the node is not ready, shown by GET /v1/nodes/NAME and `allot nodes`, bounded,
rebuilt after a restart from the journal or from a snapshot) and a move's cancel (DELETE
/v1/nodes/NAME/move: 200, 409 when no move is under way, 403 for a tenant admin, 404 for an
unknown node), and the list in pages (GET /v1/nodes?limit=&after=: every node once, a tenant
admin only its tenant's, `allot nodes` following the pages). Usage: test_nodes.py ALLOT ALLOTD
SRCDIR"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allotd_harness  # noqa: E402

ALLOT = sys.argv[1] if len(sys.argv) > 1 else "build/allot"
ALLOTD = sys.argv[2] if len(sys.argv) > 2 else "build/allotd"
SRC = sys.argv[3] if len(sys.argv) > 3 else "."
PLATFORM = os.path.join(SRC, "examples", "platform.yaml")


class NodesTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="allot-nodes-it-")
        self.home = os.path.join(self.tmp, "home")
        os.mkdir(self.home)
        self.data = os.path.join(self.tmp, "data")
        self.d = self.start(PLATFORM)

    def tearDown(self):
        if self.d and self.d.proc.poll() is None:
            self.d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, platform=None, every="0"):
        return allotd_harness.Daemon(ALLOTD, self.data, platform, ["--snapshot-every", every])

    def admin(self, method, path, body=None):
        return self.d.request(method, path, body, token=self.d.admin)

    def allot(self, *args):
        """Run allot as the admin. RET (exit status, stdout, stderr)."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("ALLOT_") and k != "XDG_CONFIG_HOME"}
        env.update(HOME=self.home, ALLOT_SERVER=self.d.url, ALLOT_TOKEN=self.d.admin)
        r = subprocess.run([ALLOT, *args], env=env, capture_output=True, text=True, timeout=30)
        return r.returncode, r.stdout, r.stderr

    def row(self, node):
        """The line of `allot nodes` about node."""
        rc, out, err = self.allot("nodes")
        self.assertEqual(rc, 0, err)
        lines = [ln for ln in out.splitlines() if ln.startswith(node + " ")]
        self.assertEqual(len(lines), 1, out)
        return lines[0]

    def test_drain_reason_is_shown_bounded_and_cleared(self):
        rc, out, err = self.allot("admin", "node", "drain", "gpu-a", "--reason", "replacing PSU")
        self.assertEqual(rc, 0, err)
        self.assertIn("reason: replacing PSU", out)
        st, n = self.admin("GET", "/v1/nodes/gpu-a")
        self.assertEqual((st, n["state"], n["reason"], n["reason_by"]),
                         (200, "draining", "replacing PSU", "admin"), n)
        self.assertIsInstance(n["reason_at"], int)
        self.assertIn("replacing PSU", self.row("gpu-a"))
        self.assertNotIn("reason", self.admin("GET", "/v1/nodes/gpu-b")[1])
        rc, out, _ = self.allot("nodes", "gpu-a")
        self.assertIn("reason: replacing PSU (by admin", out)
        # a tenant's member who sees the node sees why it is drained
        alice = self.d.user_token("alice", "member", "acme", "acme/research")
        st, n = self.d.request("GET", "/v1/nodes/gpu-a", token=alice)
        self.assertEqual((st, n.get("reason")), (200, "replacing PSU"), n)
        # bounded: too long, control characters, not a string, another key: 400 naming reason
        for body in ({"reason": "x" * 201}, {"reason": "two\nlines"}, {"reason": "c1\u0085"},
                     {"reason": 7},
                     {"reason": "ok", "by": "mallory"}):
            st, r = self.admin("POST", "/v1/nodes/gpu-b/drain", body)
            self.assertEqual((st, r["error"]["field"]), (400, "reason"), (body, r))
        self.assertEqual(self.admin("GET", "/v1/nodes/gpu-b")[1]["state"], "ready")
        st, r = self.admin("POST", "/v1/nodes/gpu-b/drain", {"reason": "é" * 100})  # 200 bytes
        self.assertEqual((st, r.get("reason")), (200, "é" * 100), r)
        # the CLI's reason goes to the daemon's check
        rc, _, err = self.allot("admin", "node", "drain", "gpu-b", "--reason", "y" * 201)
        self.assertEqual(rc, 1, err)
        self.assertIn("reason", err)
        # undrain clears it; a new drain without a reason has none
        self.assertEqual(self.admin("POST", "/v1/nodes/gpu-a/undrain")[0], 200)
        self.assertNotIn("reason", self.admin("GET", "/v1/nodes/gpu-a")[1])
        self.assertEqual(self.admin("POST", "/v1/nodes/gpu-a/drain")[0], 200)
        n = self.admin("GET", "/v1/nodes/gpu-a")[1]
        self.assertEqual((n["state"], n.get("reason")), ("draining", None), n)
        # a tenant admin drains no node, not even its own tenant's
        bob = self.d.user_token("bob", "tenant-admin", "acme")
        st, _ = self.d.request("POST", "/v1/nodes/gpu-b/undrain", token=bob)
        self.assertEqual(st, 403)
        st, _ = self.d.request("POST", "/v1/nodes/gpu-b/drain", {"reason": "mine"}, token=bob)
        self.assertEqual(st, 403)
        self.assertEqual(self.admin("GET", "/v1/nodes/gpu-b")[1]["reason"], "é" * 100)

    def test_drain_reason_survives_restarts(self):
        self.assertEqual(self.admin("POST", "/v1/nodes/gpu-a/drain",
                                    {"reason": "firmware 2.1"})[0], 200)
        self.assertEqual(self.admin("POST", "/v1/nodes/gpu-b/drain", {"reason": "gone"})[0], 200)
        self.assertEqual(self.admin("POST", "/v1/nodes/gpu-b/undrain")[0], 200)
        before = self.admin("GET", "/v1/nodes/gpu-a")[1]
        # the journal replayed (no snapshot)
        self.d.stop(signal.SIGKILL)
        self.d = self.start()
        n = self.admin("GET", "/v1/nodes/gpu-a")[1]
        self.assertEqual({k: n.get(k) for k in ("state", "reason", "reason_by", "reason_at")},
                         {k: before[k] for k in ("state", "reason", "reason_by", "reason_at")})
        self.assertNotIn("reason", self.admin("GET", "/v1/nodes/gpu-b")[1])
        # a snapshot of everything (clean stop), and a start from it alone
        self.d.stop(signal.SIGINT)
        self.d = self.start(every="1")
        self.d.stop(signal.SIGINT)
        self.d = self.start(every="1")
        with open(self.data + ".log") as f:
            self.assertIn("replaying the 0 entries after it", f.read())
        n = self.admin("GET", "/v1/nodes/gpu-a")[1]
        self.assertEqual((n["reason"], n["reason_at"]), ("firmware 2.1", before["reason_at"]))
        self.assertNotIn("reason", self.admin("GET", "/v1/nodes/gpu-b")[1])

    def test_move_cancel(self):
        self.d.add_tenant_beta()
        st, r = self.admin("POST", "/v1/workloads", {"name": "w", "workspace": "acme/research",
                                                     "gpus": 8})
        self.assertEqual(st, 201, r)
        node = r["placement"][0]["node"]
        # nothing to cancel yet
        st, r = self.admin("DELETE", f"/v1/nodes/{node}/move")
        self.assertEqual(st, 409, r)
        st, r = self.admin("POST", f"/v1/nodes/{node}/move", {"tenant": "beta"})
        self.assertEqual((st, r["moving"]["to"]), (202, "beta"), r)
        self.assertIn("draining (moving to beta)", self.row(node))
        # a tenant admin, of either tenant, cancels no move; an unknown node is 404
        for tenant in ("acme", "beta"):
            tok = self.d.user_token(f"ta-{tenant}", "tenant-admin", tenant)
            self.assertEqual(self.d.request("DELETE", f"/v1/nodes/{node}/move", token=tok)[0],
                             403)
        self.assertEqual(self.admin("DELETE", "/v1/nodes/nope/move")[0], 404)
        self.assertIn("moving", self.admin("GET", f"/v1/nodes/{node}")[1])
        rc, out, err = self.allot("admin", "node", "move", node, "--cancel")
        self.assertEqual(rc, 0, err)
        self.assertIn("move cancelled; ready, tenant acme", out)
        n = self.admin("GET", f"/v1/nodes/{node}")[1]
        self.assertEqual((n["state"], n["tenant"], n.get("moving")), ("ready", "acme", None), n)
        # its work ran on, untouched
        w = self.admin("GET", "/v1/workloads/acme/research/w")[1]
        self.assertEqual((w["state"], w["placement"][0]["node"]), ("running", node), w)
        # a second cancel: no move under way
        st, r = self.admin("DELETE", f"/v1/nodes/{node}/move")
        self.assertEqual(st, 409, r)
        rc, _, err = self.allot("admin", "node", "move", node, "--cancel")
        self.assertEqual(rc, 1, err)
        rc, _, err = self.allot("admin", "node", "move", node, "--cancel", "--tenant", "beta")
        self.assertEqual(rc, 2, err)
        # a node an admin drained, then moved: the cancel leaves it drained, with its reason;
        # the journal replayed gives the same
        self.assertEqual(self.admin("POST", f"/v1/nodes/{node}/drain",
                                    {"reason": "cabling"})[0], 200)
        self.assertEqual(self.admin("POST", f"/v1/nodes/{node}/move", {"tenant": "beta"})[0], 202)
        st, n = self.admin("DELETE", f"/v1/nodes/{node}/move")
        self.assertEqual((st, n["state"], n.get("reason")), (200, "draining", "cabling"), n)
        self.d.stop(signal.SIGKILL)
        self.d = self.start()
        n = self.admin("GET", f"/v1/nodes/{node}")[1]
        self.assertEqual((n["state"], n["tenant"], n.get("moving"), n.get("reason")),
                         ("draining", "acme", None, "cabling"), n)


class NodePagesTest(unittest.TestCase):
    """A platform of more nodes than one page (issue 17): 250 of acme's and 50 of beta's,
    interleaved so that every page mixes the two tenants."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="allot-pages-it-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.home = os.path.join(self.tmp, "home")
        os.mkdir(self.home)
        nodes, self.names = [], {"acme": [], "beta": []}
        for i in range(300):
            tenant = "beta" if i % 6 == 5 else "acme"
            name = f"{tenant}-{i:03d}"
            self.names[tenant].append(name)
            nodes.append({"name": name, "cluster": "c1", "tenant": tenant, "cpu": 8,
                          "memory": "64Gi", "gpus": [{"model": "H100-80GB", "count": 1}]})
        platform = {"tenants": [{"name": "acme", "workspaces": [{"name": "prod"}]},
                                {"name": "beta", "workspaces": [{"name": "lab"}]}],
                    "clusters": [{"name": "c1"}], "nodes": nodes}
        path = os.path.join(self.tmp, "platform.yaml")
        with open(path, "w") as f:
            json.dump(platform, f)  # JSON is YAML
        self.d = allotd_harness.Daemon(ALLOTD, os.path.join(self.tmp, "data"), path)
        self.addCleanup(lambda: self.d.proc.poll() is None and self.d.stop())

    def pages(self, token, limit=None):
        """Every page of GET /v1/nodes as token, following next. RET the pages' name lists."""
        pages, after = [], None
        while len(pages) < 1000:
            q = [f"limit={limit}"] if limit else []
            q += [f"after={after}"] if after is not None else []
            st, r = self.d.request("GET", "/v1/nodes" + ("?" + "&".join(q) if q else ""),
                                   token=token)
            self.assertEqual(st, 200, r)
            pages.append([n["name"] for n in r["items"]])
            if "next" not in r:
                return pages
            after = r["next"]
        self.fail("the pages never end")

    def test_every_node_once_in_pages(self):
        pages = self.pages(self.d.admin, limit=7)
        names = [n for p in pages for n in p]
        self.assertEqual(len(names), 300)
        self.assertEqual(sorted(names), sorted(self.names["acme"] + self.names["beta"]))
        self.assertEqual(len(pages), 43)  # 42 full pages of 7 and one of 6
        self.assertTrue(all(len(p) == 7 for p in pages[:-1]), [len(p) for p in pages])
        # unasked, a page holds 100 and says where the next starts
        pages = self.pages(self.d.admin)
        self.assertEqual([len(p) for p in pages], [100, 100, 100])
        # bounds, each naming its parameter
        for q, field in (("limit=0", "limit"), ("limit=1001", "limit"), ("after=-2", "after"),
                         ("after=x", "after")):
            st, r = self.d.request("GET", "/v1/nodes?" + q, token=self.d.admin)
            self.assertEqual((st, r["error"]["field"]), (400, field), q)

    def test_a_tenant_admin_pages_through_its_own_nodes_only(self):
        beta = self.d.user_token("bob", "tenant-admin", "beta")
        pages = self.pages(beta, limit=7)
        names = [n for p in pages for n in p]
        self.assertEqual(names, self.names["beta"])  # in order, each once, no acme node
        # a cursor pointing into acme's nodes shows none of them either
        st, r = self.d.request("GET", "/v1/nodes?after=0&limit=1000", token=beta)
        self.assertEqual([n["name"] for n in r["items"]], self.names["beta"])
        acme = self.d.user_token("alice", "tenant-admin", "acme")
        names = [n for p in self.pages(acme, limit=50) for n in p]
        self.assertEqual(names, self.names["acme"])

    def test_allot_nodes_follows_the_pages(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("ALLOT_") and k != "XDG_CONFIG_HOME"}
        env.update(HOME=self.home, ALLOT_SERVER=self.d.url, ALLOT_TOKEN=self.d.admin)
        r = subprocess.run([ALLOT, "nodes"], env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [ln.split()[0] for ln in r.stdout.splitlines()[1:] if ln.strip()]
        self.assertEqual(sorted(rows), sorted(self.names["acme"] + self.names["beta"]))
        r = subprocess.run([ALLOT, "nodes", "-o", "json"], env=env, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        items = json.loads(r.stdout)["items"]
        self.assertEqual(len(items), 300)
        self.assertEqual(len({n["name"] for n in items}), 300)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
