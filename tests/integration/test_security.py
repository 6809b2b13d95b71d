#!/usr/bin/env python3
"""Regression tests of the security defects found by probing allotd from outside (issue 9):
user takeover through POST /v1/users, slow clients and connection exhaustion, error answers
that were not JSON, bounds of small inputs, and a full disk. The real daemon on 127.0.0.1
over a temporary data directory. Usage: test_security.py ALLOTD SRCDIR"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allotd_harness  # noqa: E402

ALLOTD = sys.argv[1] if len(sys.argv) > 1 else "build/allotd"
SRC = sys.argv[2] if len(sys.argv) > 2 else "."
PLATFORM = os.path.join(SRC, "examples", "platform.yaml")


class Base(unittest.TestCase):
    extra = ()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="allot-sec-")
        self.data = os.path.join(self.tmp, "data")
        self.d = allotd_harness.Daemon(ALLOTD, self.data, PLATFORM, list(self.extra))

    def tearDown(self):
        if self.d.proc.poll() is None:
            self.d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def admin(self, method, path, body=None):
        return self.d.request(method, path, body, token=self.d.admin)

    def token_for(self, user):
        st, r = self.admin("POST", "/v1/tokens", {"user": user})
        self.assertEqual(st, 201, r)
        return r["token"]

    def user(self, name, role, tenant=None, workspace=None):
        body = {"name": name, "role": role}
        if tenant:
            body["tenant"] = tenant
        if workspace:
            body["workspace"] = workspace
        st, r = self.admin("POST", "/v1/users", body)
        self.assertEqual(st, 201, r)
        return self.token_for(name)

    def add_beta(self):
        self.assertEqual(self.admin("POST", "/v1/tenants", {"name": "beta"})[0], 201)
        st, r = self.admin("POST", "/v1/workspaces", {"name": "beta/ops"})
        self.assertEqual(st, 201, r)

    def raw(self, data, timeout=5):
        """Send raw bytes on a new connection; return everything the daemon answered until
        it closed the connection or the timeout passed."""
        with socket.create_connection(("127.0.0.1", self.d.port), timeout=timeout) as s:
            s.sendall(data)
            got = b""
            deadline = time.time() + timeout
            while time.time() < deadline:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    break
                got += chunk
                if b"\r\n\r\n" in got:
                    head, _, body = got.partition(b"\r\n\r\n")
                    n = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                         if line.lower().startswith(b"content-length:")]
                    if n and len(body) >= n[0]:
                        break
            return got

    def json_error(self, answer):
        """(status, error object) of a raw HTTP answer whose body must be a JSON error."""
        head, _, body = answer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        ctype = [line for line in lines if line.lower().startswith(b"content-type:")]
        self.assertTrue(ctype and b"application/json" in ctype[0], answer[:300])
        err = json.loads(body)["error"]
        self.assertTrue(err["code"] and err["message"], err)
        return status, err


class UserTakeover(Base):
    """Item 1: creating an existing user moved it into the caller's tenant."""

    def test_creating_an_existing_user_is_409_for_everyone(self):
        self.add_beta()
        beta_ta = self.user("bea", "tenant-admin", "beta")
        acme_ta = self.user("ada", "tenant-admin", "acme")
        for who, token, tenant in (("beta's tenant admin", beta_ta, "beta"),
                                   ("the platform admin", self.d.admin, "beta")):
            for victim in ("admin", "ada"):
                st, r = self.d.request("POST", "/v1/users", {
                    "name": victim, "role": "member", "tenant": tenant}, token=token)
                self.assertEqual(st, 409, (who, victim, r))
                self.assertEqual(r["error"]["code"], "exist")
                self.assertEqual(r["error"]["field"], "name")
        # nothing changed: the admin is still the platform's, acme's admin still acme's
        self.d.stop()
        self.d = allotd_harness.Daemon(ALLOTD, self.data, PLATFORM)
        st, r = self.admin("GET", "/v1/users")
        self.assertEqual(st, 200, r)
        users = {u["name"]: u for u in r["items"]}
        self.assertEqual(users["admin"]["role"], "admin")
        self.assertIsNone(users["admin"]["tenant"])
        self.assertEqual((users["ada"]["role"], users["ada"]["tenant"]), ("tenant-admin", "acme"))
        self.assertEqual(self.d.request("GET", "/v1/tenants/acme", token=acme_ta)[0], 200)
        # and the admin's token cannot be revoked by beta's tenant admin
        admin_id = self.d.admin.split("_")[1]
        self.assertEqual(self.d.request("DELETE", f"/v1/tokens/{admin_id}", token=beta_ta)[0], 404)
        self.assertEqual(self.admin("GET", "/v1/tenants")[0], 200)

    def test_changing_a_user_is_checked_before_and_after(self):
        self.add_beta()
        beta_ta = self.user("bea", "tenant-admin", "beta")
        self.user("bo", "member", "beta", "beta/ops")
        peer = self.user("bic", "tenant-admin", "beta")
        self.user("ann", "member", "acme")
        bo = self.token_for("bo")

        def patch(name, body, token=beta_ta):
            return self.d.request("PATCH", f"/v1/users/{name}", body, token=token)

        # within its tenant and below its role: allowed
        st, r = patch("bo", {"role": "workspace-admin"})
        self.assertEqual(st, 200, r)
        self.assertEqual((r["role"], r["tenant"], r["workspace"]),
                         ("workspace-admin", "beta", "beta/ops"))
        # the user as it will be: not up to its own role, not into another tenant
        self.assertEqual(patch("bo", {"role": "tenant-admin"})[0], 403)
        self.assertEqual(patch("bo", {"role": "admin"})[0], 403)
        st, r = patch("bo", {"tenant": "acme"})
        self.assertEqual(st, 403, r)
        self.assertEqual(r["error"]["field"], "tenant")
        self.assertEqual(patch("bo", {"workspace": "acme/prod"})[0], 404)
        # the user as it is: another tenant's is unseen, a peer is out of reach
        self.assertEqual(patch("ann", {"role": "viewer"})[0], 404)
        self.assertEqual(patch("admin", {"role": "member"})[0], 404)
        self.assertEqual(patch("bic", {"role": "viewer"})[0], 403)
        self.assertEqual(self.d.request("DELETE", "/v1/users/bic", token=beta_ta)[0], 403)
        self.assertEqual(self.d.request("DELETE", "/v1/users/ann", token=beta_ta)[0], 404)
        # unknown fields and wrong types are refused, naming the field
        st, r = patch("bo", {"rank": "x"})
        self.assertEqual((st, r["error"]["field"]), (400, "rank"))
        st, r = patch("bo", {"role": 3})
        self.assertEqual((st, r["error"]["field"]), (400, "role"))
        # tokens: a tenant admin mints and revokes only below its role in its tenant
        self.assertEqual(self.d.request("POST", "/v1/tokens", {"user": "bic"},
                                        token=beta_ta)[0], 403)
        self.assertEqual(self.d.request("POST", "/v1/tokens", {"user": "ann"},
                                        token=beta_ta)[0], 404)
        st, r = self.d.request("POST", "/v1/tokens", {"user": "bo"}, token=beta_ta)
        self.assertEqual(st, 201, r)
        peer_id = peer.split("_")[1]
        self.assertEqual(self.d.request("DELETE", f"/v1/tokens/{peer_id}", token=beta_ta)[0], 403)
        # the platform admin moves a user across tenants: its tokens stop working
        self.assertEqual(self.d.request("GET", "/v1/workspaces/beta/ops", token=bo)[0], 200)
        st, r = self.admin("PATCH", "/v1/users/bo", {"tenant": "acme", "role": "member"})
        self.assertEqual(st, 200, r)
        self.assertEqual((r["tenant"], r["workspace"]), ("acme", None))
        self.assertEqual(self.d.request("GET", "/v1/workspaces/beta/ops", token=bo)[0], 401)
        self.assertEqual(self.d.request("GET", "/v1/tenants/acme", token=bo)[0], 401)
        # a tenant admin deletes a user of its tenant below its role
        self.user("bee", "viewer", "beta")
        self.assertEqual(self.d.request("DELETE", "/v1/users/bee", token=beta_ta)[0], 200)
        self.assertEqual(patch("bee", {"role": "member"})[0], 404)

    def test_the_last_admin_stays(self):
        st, r = self.admin("PATCH", "/v1/users/admin", {"role": "member", "tenant": "acme"})
        self.assertEqual(st, 409, r)
        self.assertEqual(self.admin("DELETE", "/v1/users/admin")[0], 409)
        self.user("root2", "admin")
        st, r = self.admin("DELETE", "/v1/users/root2")
        self.assertEqual(st, 200, r)
        self.assertEqual(self.admin("GET", "/v1/tenants")[0], 200)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
