#!/usr/bin/env python3
"""Integration tests of workloads' images on the controller's side (issue 11): image and
workdir through the API, the journal (a restart) and the desired set a node agent is
answered; require_image on tenants and workspaces, and who may change it. The real allotd
on 127.0.0.1 with a temporary data directory, its nodes handed to agents that this test
plays. Usage: test_images.py ALLOTD SRCDIR. The daemon is stopped and the directory removed
at the end of each test."""
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allotd_harness  # noqa: E402

ALLOTD = sys.argv[1] if len(sys.argv) > 1 else "build/allotd"
SRC = sys.argv[2] if len(sys.argv) > 2 else "."
PLATFORM = os.path.join(SRC, "examples", "platform.yaml")


class ImagesTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="allot-images-")
        self.data = os.path.join(self.tmp, "data")
        self.d = self.start()

    def tearDown(self):
        if self.d.proc.poll() is None:
            self.d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self):
        return allotd_harness.Daemon(ALLOTD, self.data, PLATFORM, ["--no-virtual-nodes"])

    def restart(self):
        self.d.stop()
        self.d = self.start()

    def admin(self, method, path, body=None):
        return self.d.request(method, path, body, token=self.d.admin)

    def node_token(self, node):
        st, r = self.admin("POST", "/v1/tokens", {"node": node})
        self.assertEqual(st, 201, r)
        return r["token"]

    def report(self, node, token):
        """The desired set of node, as its agent is answered: {name: item}."""
        gpus = [{"index": i, "uuid": f"GPU-{node}-{i}", "healthy": True} for i in range(8)]
        st, r = self.d.request("POST", f"/v1/nodes/{node}/report",
                               {"inventory": {"discovered": False, "gpus": gpus},
                                "workloads": []}, token=token)
        self.assertEqual(st, 200, r)
        return {w["name"]: w for w in r["workloads"]}

    def desired(self, tokens):
        """The desired sets of every node, merged."""
        items = {}
        for node, token in tokens.items():
            items.update(self.report(node, token))
        return items

    def submit(self, body, status=201):
        st, r = self.admin("POST", "/v1/workloads", body)
        self.assertEqual(st, status, r)
        return r

    def test_image_and_workdir_round_trip(self):
        tokens = {n: self.node_token(n) for n in ("gpu-a", "gpu-b")}
        self.desired(tokens)  # the agents are heard: the nodes take work
        self.submit({"name": "boxed", "workspace": "acme/research", "gpus": 1,
                     "image": "pytorch", "workdir": "/work/run"})
        self.submit({"name": "cmd", "workspace": "acme/research", "gpus": 1,
                     "image": "registry.local/ml/vllm:0.6-cu12",
                     "command": ["python", "-m", "vllm"]})
        self.submit({"name": "bare", "workspace": "acme/research", "gpus": 1,
                     "command": ["sleep", "60"]})

        def check_views():
            views = {n: self.admin("GET", f"/v1/workloads/acme/research/{n}")[1]
                     for n in ("boxed", "cmd", "bare")}
            self.assertEqual(views["boxed"]["state"], "running")
            self.assertEqual((views["boxed"]["image"], views["boxed"]["workdir"]),
                             ("pytorch", "/work/run"))
            self.assertEqual(views["cmd"]["image"], "registry.local/ml/vllm:0.6-cu12")
            self.assertNotIn("workdir", views["cmd"])
            self.assertNotIn("image", views["bare"])
            self.assertNotIn("workdir", views["bare"])
            # the list shows the same views
            listed = {w["name"]: w for w in self.admin("GET", "/v1/workloads")[1]["items"]}
            self.assertEqual(listed["acme/research/boxed"]["image"], "pytorch")

        def check_desired():
            items = self.desired(tokens)
            boxed = items["acme/research/boxed"]
            # the agent gets the image as name:tag of its store, and the workdir as given
            self.assertEqual((boxed["image"], boxed["workdir"]), ("pytorch:latest", "/work/run"))
            self.assertNotIn("command", boxed)  # the image's own entrypoint runs
            cmd = items["acme/research/cmd"]
            self.assertEqual(cmd["image"], "registry.local/ml/vllm:0.6-cu12")
            self.assertEqual(cmd["command"], ["python", "-m", "vllm"])
            self.assertNotIn("workdir", cmd)
            bare = items["acme/research/bare"]
            self.assertNotIn("image", bare)
            self.assertNotIn("workdir", bare)

        check_views()
        check_desired()
        self.restart()  # the journal replayed: the same views, the same desired sets
        check_views()
        check_desired()

        # bad ones are refused naming the field, and nothing is created
        for body, field, words in (
                ({"image": "PyTorch"}, "image", "an image name is"),
                ({"image": "vllm@sha256:0123"}, "image", "digest"),
                ({"workdir": "/work"}, "workdir", "give image too"),
                ({"image": "busybox", "workdir": "work"}, "workdir", "absolute path"),
                ({"image": "busybox", "workdir": "/a/../etc"}, "workdir", "'..'")):
            body.update({"name": "bad", "workspace": "acme/research", "gpus": 1})
            r = self.submit(body, 400)
            self.assertEqual((r["error"]["code"], r["error"]["field"]), ("inval", field), r)
            self.assertIn(words, r["error"]["message"])
        self.assertEqual(self.admin("GET", "/v1/workloads/acme/research/bad")[0], 404)

    def test_require_image(self):
        tokens = {n: self.node_token(n) for n in ("gpu-a", "gpu-b")}
        self.desired(tokens)
        # a tenant that requires images in all its workspaces
        st, r = self.admin("POST", "/v1/tenants", {"name": "beta", "require_image": True})
        self.assertEqual(st, 201, r)
        self.assertEqual(self.admin("POST", "/v1/workspaces", {"name": "beta/lab"})[0], 201)
        self.assertIs(self.admin("GET", "/v1/tenants/beta")[1]["require_image"], True)
        self.assertIs(self.admin("GET", "/v1/workspaces/beta/lab")[1]["require_image"], False)
        r = self.submit({"name": "bare", "workspace": "beta/lab", "gpus": 0, "cpu": 1}, 400)
        self.assertEqual((r["error"]["code"], r["error"]["field"]), ("inval", "image"))
        self.assertIn("tenant beta requires an image (require_image)", r["error"]["message"])

        # a workspace that turns it on: what runs there keeps running
        self.submit({"name": "early", "workspace": "acme/prod", "gpus": 1, "command": ["sleep", "60"]})
        st, ws = self.admin("PATCH", "/v1/workspaces/acme/prod", {"require_image": True})
        self.assertEqual(st, 200, ws)
        self.assertIs(ws["require_image"], True)
        self.assertEqual(ws["limits"]["gpu"], "8")  # nothing else changed
        r = self.submit({"name": "late", "workspace": "acme/prod", "gpus": 1}, 400)
        self.assertEqual((r["error"]["code"], r["error"]["field"]), ("inval", "image"))
        self.assertIn("workspace acme/prod requires an image (require_image)",
                      r["error"]["message"])
        self.assertEqual(self.admin("GET", "/v1/workloads/acme/prod/late")[0], 404)
        self.assertEqual(self.submit({"name": "boxed", "workspace": "acme/prod", "gpus": 1,
                                      "image": "busybox:1.36"})["state"], "running")
        # another workspace of the tenant is not concerned
        self.submit({"name": "free", "workspace": "acme/research", "gpus": 1, "command": ["sleep", "60"]})
        self.assertEqual(self.admin("GET", "/v1/workloads/acme/prod/early")[1]["state"],
                         "running")
        self.assertIn("acme/prod/early", self.desired(tokens))

        # a restart keeps both policies
        self.restart()
        self.assertIs(self.admin("GET", "/v1/workspaces/acme/prod")[1]["require_image"], True)
        self.assertIs(self.admin("GET", "/v1/tenants/beta")[1]["require_image"], True)
        self.submit({"name": "late", "workspace": "acme/prod", "gpus": 1}, 400)
        self.submit({"name": "bare", "workspace": "beta/lab", "gpus": 0, "cpu": 1}, 400)
        self.assertEqual(self.admin("GET", "/v1/workloads/acme/prod/early")[1]["state"],
                         "running")

        # a wrong value is refused naming the field, and changes nothing
        st, r = self.admin("PATCH", "/v1/workspaces/acme/prod", {"require_image": "no"})
        self.assertEqual((st, r["error"]["field"]), (400, "require_image"))
        st, r = self.admin("POST", "/v1/tenants", {"name": "gamma", "require_image": 1})
        self.assertEqual((st, r["error"]["field"]), (400, "require_image"))
        self.assertIs(self.admin("GET", "/v1/workspaces/acme/prod")[1]["require_image"], True)

        # turned off, bare workloads are taken again
        st, ws = self.admin("PATCH", "/v1/workspaces/acme/prod", {"require_image": False})
        self.assertEqual(st, 200, ws)
        self.submit({"name": "later", "workspace": "acme/prod", "gpus": 1, "command": ["true"]})

    def test_who_may_change_require_image(self):
        self.d.add_tenant_beta()
        st, ws = self.admin("PATCH", "/v1/workspaces/acme/prod", {"require_image": True})
        self.assertEqual(st, 200, ws)
        beta_admin = self.d.user_token("beta-admin", "tenant-admin", tenant="beta")
        member = self.d.user_token("m", "member", tenant="acme", workspace="acme/prod")
        ws_admin = self.d.user_token("wa", "workspace-admin", tenant="acme",
                                     workspace="acme/prod")
        acme_admin = self.d.user_token("acme-admin", "tenant-admin", tenant="acme")
        path = "/v1/workspaces/acme/prod"
        # another tenant's admin does not see the workspace at all
        st, r = self.d.request("PATCH", path, {"require_image": False}, token=beta_admin)
        self.assertEqual(st, 404, r)
        # the workspace's member and its workspace admin may not change it
        for token in (member, ws_admin):
            st, r = self.d.request("PATCH", path, {"require_image": False}, token=token)
            self.assertEqual((st, r["error"]["code"]), (403, "forbidden"), r)
        self.assertIs(self.admin("GET", path)[1]["require_image"], True)
        # and the member's submission without an image is still refused
        st, r = self.d.request("POST", "/v1/workloads",
                               {"name": "sneak", "workspace": "acme/prod", "gpus": 1},
                               token=member)
        self.assertEqual((st, r["error"]["field"]), (400, "image"), r)
        # a tenant admin may not turn its tenant's policy off: the tenant PATCH is the platform
        # admin's, and changes only limits.queued; a workspace's false leaves the tenant's true
        # in force
        st, r = self.d.request("PATCH", "/v1/tenants/beta", {"require_image": False},
                               token=beta_admin)
        self.assertEqual(st, 403, r)
        st, r = self.d.request("PATCH", "/v1/tenants/beta", {"require_image": False},
                               token=self.d.admin)
        self.assertEqual((st, r["error"]["code"]), (400, "inval"), r)
        # the tenant's own admin may
        st, ws = self.d.request("PATCH", path, {"require_image": False}, token=acme_admin)
        self.assertEqual(st, 200, ws)
        self.assertIs(ws["require_image"], False)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
